import type { ComponentChildren, JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api";
import { errorTitle, t, type Key } from "./i18n";

// ---- data loading ----

export interface Loaded<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

/** Loads with `fn` whenever `deps` change; keeps showing the previous data while the next loads. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: ApiError | null; loading: boolean }>({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error: unknown) => live && setState((s) => ({ data: s.data, error: error instanceof ApiError ? error : new ApiError(0, "UNKNOWN", String(error)), loading: false })),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((n) => n + 1) };
}

// ---- toasts ----

type Toast = { id: number; kind: "ok" | "error"; text: string };
let toasts: Toast[] = [];
const toastListeners = new Set<() => void>();
let nextToast = 1;

export function toast(text: string, kind: "ok" | "error" = "ok"): void {
  const id = nextToast++;
  toasts = [...toasts, { id, kind, text }];
  toastListeners.forEach((fn) => fn());
  setTimeout(() => {
    toasts = toasts.filter((x) => x.id !== id);
    toastListeners.forEach((fn) => fn());
  }, kind === "error" ? 8000 : 3500);
}

export function Toasts() {
  const [, force] = useState(0);
  useEffect(() => {
    const fn = () => force((n) => n + 1);
    toastListeners.add(fn);
    return () => void toastListeners.delete(fn);
  }, []);
  return (
    <div class="toasts" role="status" aria-live="polite">
      {toasts.map((x) => (
        <div key={x.id} class={`toast toast-${x.kind}`}>
          {x.text}
        </div>
      ))}
    </div>
  );
}

// ---- building blocks ----

export function PageHeader(props: { title: ComponentChildren; subtitle?: ComponentChildren; actions?: ComponentChildren; crumbs?: ComponentChildren }) {
  return (
    <header class="page-header">
      {props.crumbs && <nav class="crumbs">{props.crumbs}</nav>}
      <div class="page-header-row">
        <div>
          <h1>{props.title}</h1>
          {props.subtitle && <p class="subtitle">{props.subtitle}</p>}
        </div>
        {props.actions && <div class="page-actions">{props.actions}</div>}
      </div>
    </header>
  );
}

export function Card(props: { title?: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren; class?: string; flush?: boolean }) {
  return (
    <section class={`card ${props.flush ? "card-flush" : ""} ${props.class ?? ""}`}>
      {(props.title || props.actions) && (
        <div class="card-header">
          {props.title && <h2>{props.title}</h2>}
          {props.actions && <div class="card-actions">{props.actions}</div>}
        </div>
      )}
      <div class="card-body">{props.children}</div>
    </section>
  );
}

export function Stat(props: { label: ComponentChildren; value: ComponentChildren; hint?: ComponentChildren }) {
  return (
    <div class="stat">
      <div class="stat-label">{props.label}</div>
      <div class="stat-value">{props.value}</div>
      {props.hint && <div class="stat-hint">{props.hint}</div>}
    </div>
  );
}

export function Badge(props: { kind?: "neutral" | "ok" | "warn" | "danger" | "info"; children: ComponentChildren; title?: string }) {
  return (
    <span class={`badge badge-${props.kind ?? "neutral"}`} title={props.title}>
      {props.children}
    </span>
  );
}

export function ErrorBox(props: { error: ApiError | null; onRetry?: () => void }) {
  if (!props.error) return null;
  // The server's words with its code; where the UI knows the code, its name in the user's language leads.
  const { code, message, status } = props.error;
  const title = errorTitle(code, props.error.detail);
  const text = message || (status === 403 ? t("error.forbidden") : "");
  return (
    <div class="alert alert-error" role="alert">
      <strong>{title ?? t("common.error")}:</strong> <span data-testid="error-message">{text}</span>{" "}
      {code !== "UNKNOWN" && <code class="error-code">{code}</code>}
      {props.onRetry && (
        <button class="btn btn-small btn-ghost" onClick={props.onRetry}>
          {t("common.retry")}
        </button>
      )}
    </div>
  );
}

export function Spinner() {
  return (
    <div class="loading" aria-busy="true">
      <span class="spinner" /> {t("common.loading")}
    </div>
  );
}

export function Empty(props: { children?: ComponentChildren }) {
  return <div class="empty">{props.children ?? t("common.empty")}</div>;
}

export function Pagination(props: { page: number; pageSize: number; total: number; onPage: (page: number) => void }) {
  const pages = Math.max(1, Math.ceil(props.total / props.pageSize));
  return (
    <div class="pagination">
      <span class="muted">{t("common.total", { count: props.total.toLocaleString() })}</span>
      <div class="pagination-controls">
        <button class="btn btn-small" disabled={props.page <= 1} onClick={() => props.onPage(props.page - 1)}>
          ‹ {t("common.prev")}
        </button>
        <span class="pagination-page">{t("common.page", { page: props.page, pages })}</span>
        <button class="btn btn-small" disabled={props.page >= pages} onClick={() => props.onPage(props.page + 1)}>
          {t("common.next")} ›
        </button>
      </div>
    </div>
  );
}

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

/** A button that copies `text`; shows "Copied" for a moment. */
export function CopyButton(props: { text: string; label?: string; title?: string; small?: boolean; icon?: boolean }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class={`btn ${props.small ? "btn-small" : ""} btn-ghost copy-btn`}
      title={props.title ?? props.text}
      data-copy={props.text}
      onClick={async (e) => {
        e.stopPropagation();
        await copyText(props.text).catch(() => undefined);
        setDone(true);
        setTimeout(() => setDone(false), 1500);
      }}
    >
      {props.icon !== false && <CopyIcon />}
      {done ? t("common.copied") : props.label ?? t("common.copy")}
    </button>
  );
}

/** A command line with a copy button, e.g. docker pull. */
export function Command(props: { text: string }) {
  return (
    <div class="command">
      <code>{props.text}</code>
      <CopyButton text={props.text} small />
    </div>
  );
}

let dialogIds = 0;

/**
 * A modal dialog: focus moves into it (the element marked data-autofocus, else the first field or main
 * button) and stays there (Tab wraps), Escape or the backdrop closes it, and focus goes back to where it was.
 */
export function Modal(props: { title: ComponentChildren; onClose: () => void; children: ComponentChildren; footer?: ComponentChildren; wide?: boolean; describe?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  const [id] = useState(() => `dialog-${++dialogIds}`);
  const close = useRef(props.onClose);
  close.current = props.onClose;
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        close.current();
      } else if (e.key === "Tab" && ref.current) trapTab(ref.current, e);
    };
    document.addEventListener("keydown", onKey);
    (
      ref.current?.querySelector<HTMLElement>("[data-autofocus]") ??
      ref.current?.querySelector<HTMLElement>("input, select, textarea, button.btn-primary, button.btn-danger")
    )?.focus();
    return () => {
      document.removeEventListener("keydown", onKey);
      // Back to the button that opened the dialog, if it is still on the page.
      if (opener?.isConnected) opener.focus();
    };
  }, []);
  return (
    <div class="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && props.onClose()}>
      <div class={`modal ${props.wide ? "modal-wide" : ""}`} role="dialog" aria-modal="true" aria-labelledby={`${id}-title`} aria-describedby={props.describe ? `${id}-body` : undefined} ref={ref}>
        <div class="modal-header">
          <h2 id={`${id}-title`}>{props.title}</h2>
          <button class="icon-btn" aria-label={t("common.close")} onClick={props.onClose}>
            ×
          </button>
        </div>
        <div class="modal-body" id={`${id}-body`}>{props.children}</div>
        {props.footer && <div class="modal-footer">{props.footer}</div>}
      </div>
    </div>
  );
}

/** Keeps Tab and Shift+Tab among the dialog's own controls. */
function trapTab(dialog: HTMLElement, e: KeyboardEvent): void {
  const focusable = [...dialog.querySelectorAll<HTMLElement>("a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])")];
  if (!focusable.length) return;
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  const inside = dialog.contains(document.activeElement);
  if (e.shiftKey && (document.activeElement === first || !inside)) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && (document.activeElement === last || !inside)) {
    e.preventDefault();
    first.focus();
  }
}

/**
 * The one confirmation dialog: says what the action means, runs `onConfirm` on the confirming button and
 * shows the server's error in the dialog. Focus starts on Cancel, so Enter alone never confirms; `danger`
 * (the default) styles the button as destructive.
 */
export function Confirm(props: {
  title: ComponentChildren;
  message: ComponentChildren;
  confirmLabel: string;
  onConfirm: () => Promise<void>;
  onClose: () => void;
  kind?: "danger" | "primary";
  testId?: string;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  return (
    <Modal
      title={props.title}
      onClose={props.onClose}
      describe
      footer={
        <>
          <button class="btn" onClick={props.onClose} data-autofocus>
            {t("common.cancel")}
          </button>
          <button
            class={`btn ${props.kind === "primary" ? "btn-primary" : "btn-danger"}`}
            disabled={busy}
            data-testid={props.testId}
            onClick={async () => {
              setBusy(true);
              try {
                await props.onConfirm();
                props.onClose();
              } catch (err) {
                setError(err as ApiError);
                setBusy(false);
              }
            }}
          >
            {props.confirmLabel}
          </button>
        </>
      }
    >
      <div class="confirm-text">{props.message}</div>
      <ErrorBox error={error} />
    </Modal>
  );
}

export function Field(props: { label: ComponentChildren; hint?: ComponentChildren; children: ComponentChildren }) {
  return (
    <label class="field">
      <span class="field-label">{props.label}</span>
      {props.children}
      {props.hint && <span class="field-hint">{props.hint}</span>}
    </label>
  );
}

export function SortHeader(props: { label: Key; sort: string; current: string; order: string; onSort: (sort: string, order: string) => void; align?: "right" }) {
  const active = props.current === props.sort;
  const next = active ? (props.order === "asc" ? "desc" : "asc") : props.sort === "name" ? "asc" : "desc";
  return (
    <th class={`sortable ${active ? "sorted" : ""} ${props.align === "right" ? "num" : ""}`} aria-sort={active ? (props.order === "asc" ? "ascending" : "descending") : "none"}>
      <button type="button" onClick={() => props.onSort(props.sort, next)}>
        {t(props.label)}
        <span class="sort-arrow">{active ? (props.order === "asc" ? "▲" : "▼") : "↕"}</span>
      </button>
    </th>
  );
}

export function CopyIcon() {
  return (
    <svg class="icon" viewBox="0 0 16 16" aria-hidden="true">
      <rect x="5" y="5" width="9" height="9" rx="1.5" fill="none" stroke="currentColor" stroke-width="1.4" />
      <path d="M3 10.5H2.5A1.5 1.5 0 0 1 1 9V2.5A1.5 1.5 0 0 1 2.5 1H9a1.5 1.5 0 0 1 1.5 1.5V3" fill="none" stroke="currentColor" stroke-width="1.4" />
    </svg>
  );
}

export function Icon(props: { name: "repo" | "project" | "user" | "robot" | "audit" | "mirror" | "storage" | "import" | "logout" | "download" | "trash" | "tag" | "settings" }): JSX.Element {
  const paths: Record<string, string> = {
    repo: "M2 4.5 8 1.5l6 3v7l-6 3-6-3zM2 4.5l6 3 6-3M8 7.5v7",
    project: "M1.5 3.5h5l1.5 1.5h6.5v8.5h-13z",
    user: "M8 8a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM2.5 14.5c.5-3 2.7-4.5 5.5-4.5s5 1.5 5.5 4.5",
    robot: "M3 5.5h10v8H3zM8 5.5V3M6 9h.01M10 9h.01M6 11.5h4M1.5 8.5v2M14.5 8.5v2",
    audit: "M3 1.5h7l3 3v10H3zM5.5 7h5M5.5 9.5h5M5.5 12h3",
    mirror: "M1.5 8a6.5 6.5 0 0 1 11-4.7M14.5 8a6.5 6.5 0 0 1-11 4.7M12.5 1v2.5H10M3.5 15v-2.5H6",
    storage: "M2 3.5c0-1 2.7-2 6-2s6 1 6 2v9c0 1-2.7 2-6 2s-6-1-6-2zM2 3.5c0 1 2.7 2 6 2s6-1 6-2M2 8c0 1 2.7 2 6 2s6-1 6-2",
    import: "M8 1.5v8.5M4.5 6.5 8 10l3.5-3.5M2 11.5v3h12v-3",
    download: "M8 1.5v8.5M4.5 6.5 8 10l3.5-3.5M2 11.5v3h12v-3",
    logout: "M6 14.5H2.5v-13H6M10.5 11.5 14 8l-3.5-3.5M14 8H5.5",
    trash: "M2.5 4h11M6 4V2h4v2M3.5 4l1 10.5h7l1-10.5",
    tag: "M1.5 1.5h6l7 7-6 6-7-7zM5 5h.01",
    settings: "M8 10a2 2 0 1 0 0-4 2 2 0 0 0 0 4zM8 1.5v2M8 12.5v2M1.5 8h2M12.5 8h2M3.4 3.4l1.4 1.4M11.2 11.2l1.4 1.4M3.4 12.6l1.4-1.4M11.2 4.8l1.4-1.4",
  };
  return (
    <svg class="icon" viewBox="0 0 16 16" aria-hidden="true">
      <path d={paths[props.name]} fill="none" stroke="currentColor" stroke-width="1.4" stroke-linecap="round" stroke-linejoin="round" />
    </svg>
  );
}

/** A "⋯" button opening a small menu of actions. */
export function Menu(props: { label: string; children: ComponentChildren; testId?: string }) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => !ref.current?.contains(e.target as Node) && setOpen(false);
    const esc = (e: KeyboardEvent) => e.key === "Escape" && setOpen(false);
    document.addEventListener("mousedown", close);
    document.addEventListener("keydown", esc);
    return () => {
      document.removeEventListener("mousedown", close);
      document.removeEventListener("keydown", esc);
    };
  }, [open]);
  return (
    <div class="menu" ref={ref}>
      <button type="button" class="btn btn-small btn-ghost menu-toggle" aria-haspopup="menu" aria-expanded={open} aria-label={props.label} title={props.label} data-testid={props.testId} onClick={(e) => { e.stopPropagation(); setOpen(!open); }}>
        ⋯
      </button>
      {open && (
        <div class="menu-list" role="menu" onClick={() => setOpen(false)}>
          {props.children}
        </div>
      )}
    </div>
  );
}

export function MenuItem(props: { onClick?: () => void; href?: string; download?: boolean; danger?: boolean; children: ComponentChildren; testId?: string }) {
  if (props.href) {
    return (
      <a role="menuitem" class={`menu-item ${props.danger ? "danger" : ""}`} href={props.href} download={props.download ? "" : undefined} data-testid={props.testId}>
        {props.children}
      </a>
    );
  }
  return (
    <button type="button" role="menuitem" class={`menu-item ${props.danger ? "danger" : ""}`} onClick={props.onClick} data-testid={props.testId}>
      {props.children}
    </button>
  );
}
