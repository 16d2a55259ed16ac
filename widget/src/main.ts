import { ChatWidget } from './widget.ts';

/**
 * The embed script: `<script async src="https://chat.example.com/widget/v1/widget.js"
 * data-omnitalk-site="st_…"></script>` (optional `data-lang="en"`, `data-color="#0a7"`). The server is
 * where the script came from, unless `data-omnitalk-server` names another.
 */

declare global {
  interface Window {
    omnitalk?: { open(): void; close(): void; widget: ChatWidget };
  }
}

function scriptTag(): HTMLScriptElement | null {
  const current = document.currentScript;
  if (current instanceof HTMLScriptElement && current.dataset.omnitalkSite) return current;
  return document.querySelector<HTMLScriptElement>('script[data-omnitalk-site]');
}

function boot(): void {
  const script = scriptTag();
  const siteKey = script?.dataset.omnitalkSite;
  if (!script || !siteKey) {
    console.warn('omnitalk: the script tag needs data-omnitalk-site="<site key>"');
    return;
  }
  if (window.omnitalk || document.getElementById('omnitalk-widget')) return; // included twice
  const src = new URL(script.src, location.href);
  const server =
    script.dataset.omnitalkServer ??
    src.origin + src.pathname.replace(/\/widget(\/v\d+)?\/widget\.js$|\/widget\.js$/, '');
  const start = () => {
    const widget = new ChatWidget({
      server,
      siteKey,
      lang: script.dataset.lang ?? null,
      color: script.dataset.color ?? null,
    });
    window.omnitalk = { open: () => widget.toggle(true), close: () => widget.toggle(false), widget };
  };
  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start, { once: true });
}

boot();
