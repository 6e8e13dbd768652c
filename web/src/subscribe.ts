import { useEffect, useState } from "preact/hooks";

/** Re-renders the calling component whenever one of `listeners` is called, for as long as it is mounted. */
export function useListeners(listeners: Set<() => void>): void {
  const [, force] = useState(0);
  useEffect(() => {
    const fn = () => force((n) => n + 1);
    listeners.add(fn);
    return () => void listeners.delete(fn);
  }, [listeners]);
}
