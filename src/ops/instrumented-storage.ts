import { PathNotFoundError, type FileWriter, type StorageDriver } from "../storage/driver";
import type { Metrics } from "../metrics/metrics";

/**
 * A StorageDriver decorator counting failed calls in berth_storage_errors_total{driver,operation}.
 * "Not found" is an answer, not a failure, so PathNotFoundError is not counted. Written as a Proxy so that
 * methods drivers add later (S3's and others') are counted too without touching this file: any method
 * returning a promise is watched, async iterables (list) are watched while iterated, writers are wrapped.
 */
export function instrumentStorage(driver: StorageDriver, metrics: Metrics): StorageDriver {
  const count = (operation: string, err: unknown) => {
    if (!(err instanceof PathNotFoundError)) metrics.storageErrors.inc({ driver: driver.name, operation });
  };
  return wrap(driver, "", count, (operation, value) => (operation === "writer" ? wrap(value as FileWriter, "writer.", count) : value));
}

function wrap<T extends object>(
  target: T,
  prefix: string,
  count: (operation: string, err: unknown) => void,
  mapResult: (operation: string, value: unknown) => unknown = (_, v) => v,
): T {
  return new Proxy(target, {
    get(obj, key, receiver) {
      const value = Reflect.get(obj, key, receiver);
      if (typeof value !== "function" || typeof key !== "string") return value;
      const operation = prefix + key;
      return (...args: unknown[]) => {
        let result: unknown;
        try {
          result = (value as (...a: unknown[]) => unknown).apply(obj, args);
        } catch (err) {
          count(operation, err);
          throw err;
        }
        if (result instanceof Promise) {
          return result.then(
            (v) => mapResult(operation, v),
            (err) => {
              count(operation, err);
              throw err;
            },
          );
        }
        if (result && typeof (result as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function") {
          return (async function* () {
            try {
              yield* result as AsyncIterable<unknown>;
            } catch (err) {
              count(operation, err);
              throw err;
            }
          })();
        }
        return mapResult(operation, result);
      };
    },
  });
}
