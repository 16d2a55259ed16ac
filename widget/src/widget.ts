import {
  memoryStorage,
  OmnitalkError,
  OmnitalkVisitor,
  type PendingMessage,
  type StorageLike,
  type VisitorDialog,
  type VisitorMessage,
  type VisitorWelcome,
} from '../../sdk/src/index.ts';
import { formatBytes, h, safeStorage, show } from './dom.ts';
import { type Lang, pickLang, type Strings, strings } from './i18n.ts';
import { ACCEPT, checkFile, DEFAULT_ATTACHMENT_BYTES, normalizedType } from './limits.ts';
import { css } from './styles.ts';

export interface WidgetOptions {
  server: string;
  siteKey: string;
  /** From the snippet (data-lang); otherwise the site settings, then the page's <html lang>. */
  lang?: string | null;
  /** From the snippet (data-color); otherwise the site settings' "color". */
  color?: string | null;
  /** Where the widget attaches its host element (document.body by default). */
  mount?: HTMLElement;
}

type MarkState = 'sending' | 'delivered' | 'read';

const CHAT_ICON =
  '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';
const CLIP_ICON =
  '<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"><path d="M21 11.5l-8.5 8.5a5 5 0 0 1-7-7L14 4.5a3.3 3.3 0 0 1 4.7 4.7L10.2 17.7a1.7 1.7 0 0 1-2.4-2.4L15.5 7.6"/></svg>';
const TYPING_IDLE_MS = 4000;
const OPERATOR_TYPING_SHOWN_MS = 7000;
const isColor = (v: unknown): v is string => typeof v === 'string' && /^#[0-9a-f]{3,8}$/i.test(v);

/**
 * The visitor widget (CH-2): a launcher and a chat panel in a Shadow DOM root, on top of the SDK's
 * visitor client, which keeps the visitor token and unsent messages in localStorage, reconnects and
 * resends. A visitor who never opened the chat opens no socket; one who did reconnects on every page.
 */
export class ChatWidget {
  readonly chat: OmnitalkVisitor;
  readonly host: HTMLElement;
  private t: Strings;
  private lang: Lang;
  private readonly store: Storage | null;
  private readonly keyPrefix: string;
  private readonly messages = new Map<number, VisitorMessage>();
  private readonly nodes = new Map<string, HTMLElement>();
  private readonly fileNames = new Map<number, string>();
  private operatorReadUpTo = new Map<number, number>();
  private dialog: VisitorDialog | null = null;
  private visitorReadUpTo = 0;
  private nextBefore: number | null = null;
  private maxAttachmentBytes = DEFAULT_ATTACHMENT_BYTES;
  private maxText = 5000;
  private operatorsOnline = false;
  private started: Promise<VisitorWelcome> | null = null;
  private everOnline = false;
  private stopped = false;
  private isOpen = false;
  private unread = 0;
  private typingOn = false;
  private typingIdle: ReturnType<typeof setTimeout> | undefined;
  private operatorTypingTimer: ReturnType<typeof setTimeout> | undefined;
  private contactGiven: boolean;
  private siteTitle: string | null = null;

  // Elements
  private readonly root: HTMLElement;
  private readonly launcher: HTMLButtonElement;
  private readonly badge: HTMLElement;
  private readonly panel: HTMLElement;
  private readonly title: HTMLElement;
  private readonly subtitle: HTMLElement;
  private readonly banner: HTMLElement;
  private readonly list: HTMLElement;
  private readonly olderButton: HTMLButtonElement;
  private readonly emptyNote: HTMLElement;
  private readonly typingRow: HTMLElement;
  private readonly note: HTMLElement;
  private readonly contactPrompt: HTMLButtonElement;
  private readonly input: HTMLTextAreaElement;
  private readonly fileInput: HTMLInputElement;
  private readonly form: HTMLFormElement;
  private readonly fields: Record<'name' | 'phone' | 'email', HTMLInputElement>;
  private readonly formError: HTMLElement;
  private readonly labels: { el: HTMLElement; text: (t: Strings) => string; attr?: string }[] = [];

  constructor(private readonly options: WidgetOptions) {
    this.store = safeStorage();
    this.keyPrefix = `omnitalk:${options.siteKey}:`;
    this.lang = pickLang(options.lang, document.documentElement.lang);
    this.t = strings[this.lang];
    this.contactGiven = this.getFlag('contact') !== null;
    this.chat = new OmnitalkVisitor({
      server: options.server,
      siteKey: options.siteKey,
      storage: (this.store as StorageLike | null) ?? memoryStorage(),
      page: () => ({ url: location.href.slice(0, 2048), title: document.title.slice(0, 500) }),
    });

    const label = <E extends HTMLElement>(el: E, text: (t: Strings) => string, attr?: string): E => {
      this.labels.push({ el, text, attr });
      return el;
    };

    this.badge = h('span', { class: 'badge', hidden: true, part: 'badge' });
    this.launcher = label(
      h('button', {
        class: 'launcher',
        type: 'button',
        'data-omnitalk': 'launcher',
        onclick: () => this.toggle(),
      }),
      (t) => t.open,
      'aria-label',
    );
    this.launcher.innerHTML = CHAT_ICON;
    this.launcher.append(this.badge);

    this.title = h('b');
    this.subtitle = h('small', { 'data-omnitalk': 'status' });
    this.banner = h('div', { class: 'banner', hidden: true, role: 'status', 'data-omnitalk': 'banner' });
    this.olderButton = label(
      h('button', { class: 'older', type: 'button', hidden: true, onclick: () => void this.loadOlder() }),
      (t) => t.older,
    );
    this.emptyNote = label(h('div', { class: 'empty' }), (t) => t.empty);
    this.list = h(
      'div',
      { class: 'list', role: 'log', 'aria-live': 'polite', 'data-omnitalk': 'messages' },
      this.olderButton,
      this.emptyNote,
    );
    this.typingRow = label(
      h('div', { class: 'typing', hidden: true, 'data-omnitalk': 'typing' }),
      (t) => t.typing,
    );
    this.note = h('div', { class: 'note', hidden: true, role: 'alert', 'data-omnitalk': 'note' });
    this.contactPrompt = label(
      h('button', {
        class: 'older',
        type: 'button',
        hidden: true,
        'data-omnitalk': 'contact-prompt',
        onclick: () => this.openForm(),
      }),
      (t) => t.contactOpen,
    );
    this.input = label(
      h('textarea', { rows: 1, 'data-omnitalk': 'input', maxlength: 5000 }),
      (t) => t.placeholder,
      'placeholder',
    );
    this.input.addEventListener('input', () => this.onInput());
    this.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.sendTyped();
      }
    });
    this.fileInput = h('input', {
      type: 'file',
      accept: ACCEPT,
      hidden: true,
      'data-omnitalk': 'file',
    });
    this.fileInput.addEventListener('change', () => {
      const file = this.fileInput.files?.[0];
      this.fileInput.value = '';
      if (file) void this.attach(file);
    });
    const attachButton = label(
      h('button', {
        class: 'icon',
        type: 'button',
        'data-omnitalk': 'attach',
        onclick: () => this.fileInput.click(),
      }),
      (t) => t.attach,
      'title',
    );
    attachButton.innerHTML = CLIP_ICON;
    const sendButton = label(
      h('button', {
        class: 'send',
        type: 'button',
        'data-omnitalk': 'send',
        onclick: () => this.sendTyped(),
      }),
      (t) => t.send,
    );

    this.fields = {
      name: h('input', { name: 'name', autocomplete: 'name', maxlength: 200 }),
      phone: h('input', { name: 'phone', type: 'tel', autocomplete: 'tel', maxlength: 50 }),
      email: h('input', { name: 'email', type: 'email', autocomplete: 'email', maxlength: 320 }),
    };
    this.formError = h('div', { class: 'err', role: 'alert', 'data-omnitalk': 'form-error' });
    const field = (key: 'name' | 'phone' | 'email') =>
      h(
        'label',
        {},
        label(h('span'), (t) => t[key]),
        this.fields[key],
      );
    this.form = h(
      'form',
      { class: 'form', hidden: true, novalidate: true, 'data-omnitalk': 'contact-form' },
      label(h('h3'), (t) => t.contactTitle),
      label(h('p'), (t) => t.contactHint),
      field('name'),
      field('phone'),
      field('email'),
      this.formError,
      h(
        'div',
        { class: 'row' },
        label(
          h('button', { class: 'ghost', type: 'button', onclick: () => show(this.form, false) }),
          (t) => t.cancel,
        ),
        label(h('button', { class: 'send', type: 'submit', 'data-omnitalk': 'contact-save' }), (t) => t.save),
      ),
    );
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.submitContact();
    });

    const contactButton = label(
      h('button', {
        class: 'icon',
        type: 'button',
        'data-omnitalk': 'contact-open',
        onclick: () => this.openForm(),
      }),
      (t) => t.contactOpen,
      'title',
    );
    contactButton.textContent = '☎';
    const closeButton = label(
      h('button', { class: 'icon', type: 'button', onclick: () => this.toggle(false) }),
      (t) => t.close,
      'title',
    );
    closeButton.textContent = '✕';

    this.panel = h(
      'div',
      { class: 'panel', hidden: true, role: 'dialog', 'data-omnitalk': 'panel' },
      h(
        'div',
        { class: 'head' },
        h('div', { class: 't' }, this.title, this.subtitle),
        contactButton,
        closeButton,
      ),
      this.banner,
      h(
        'div',
        { class: 'panelwrap' },
        this.list,
        this.typingRow,
        this.contactPrompt,
        this.note,
        h('div', { class: 'composer' }, attachButton, this.fileInput, this.input, sendButton),
        this.form,
      ),
    );
    this.root = h('div', { class: 'root' }, this.panel, this.launcher);
    if (isColor(options.color)) this.root.style.setProperty('--a', options.color);

    this.host = h('div', { id: 'omnitalk-widget', 'data-omnitalk-site': options.siteKey });
    const shadow = this.host.attachShadow({ mode: 'open' });
    adoptStyles(shadow);
    shadow.append(this.root);
    this.applyTexts();
    this.renderHeader();
    (options.mount ?? document.body).append(this.host);

    this.chat.on('message', (m) => this.onMessage(m));
    this.chat.on('welcome', (w) => this.onWelcome(w));
    this.chat.on('dialog', (d) => {
      this.setDialog(d);
      this.renderHeader();
      this.sync();
    });
    this.chat.on('typing', (e) => {
      if (e.by === 'operator') this.showOperatorTyping(e.on);
    });
    this.chat.on('read', (e) => {
      if (e.by === 'operator') {
        this.operatorReadUpTo.set(
          e.dialog_id,
          Math.max(this.operatorReadUpTo.get(e.dialog_id) ?? 0, e.up_to),
        );
        this.sync();
      } else this.visitorReadUpTo = Math.max(this.visitorReadUpTo, e.up_to);
    });
    this.chat.on('state', (state) => this.renderState(state));
    this.chat.on('error', (e) => this.onError(e));
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.chat.reconnectNow();
      this.markRead();
    });
    // Back online: try at once instead of waiting out the reconnect backoff.
    window.addEventListener('online', () => this.chat.reconnectNow());

    // A visitor who wrote before reconnects on every page, to get answers and resend what is unsent;
    // one who never did opens no socket until the chat is opened.
    if (this.getFlag('started') !== null) void this.start();
    if (this.getFlag('open') !== null) this.toggle(true);
  }

  /** Opens or closes the panel (the launcher; `window.omnitalk.open()` for the host page). */
  toggle(open = !this.isOpen): void {
    this.isOpen = open;
    show(this.panel, open);
    this.setFlag('open', open);
    if (open) {
      void this.start();
      this.unread = 0;
      this.renderBadge();
      this.scrollDown(true);
      this.markRead();
      setTimeout(() => this.input.focus(), 0);
    }
  }

  private start(): Promise<VisitorWelcome> {
    if (!this.started) {
      this.renderState('connecting');
      this.started = this.chat.connect();
      this.started.catch(() => {
        this.stopped = true;
        this.renderState('closed');
      });
    }
    return this.started;
  }

  // --- incoming ---

  private onWelcome(w: VisitorWelcome): void {
    const settings = w.site.settings ?? {};
    const lang = pickLang(this.options.lang, settings.language as string, document.documentElement.lang);
    if (lang !== this.lang) {
      this.lang = lang;
      this.t = strings[lang];
      this.applyTexts();
    }
    if (!isColor(this.options.color) && isColor(settings.color))
      this.root.style.setProperty('--a', settings.color);
    this.siteTitle =
      typeof settings.title === 'string' && settings.title.trim() ? settings.title.trim() : null;
    this.maxAttachmentBytes = w.limits.attachment_bytes;
    this.maxText = w.limits.text;
    this.input.maxLength = w.limits.text;
    this.operatorsOnline = w.operators_online;
    this.setDialog(w.dialog);
    if (w.dialog) this.visitorReadUpTo = Math.max(this.visitorReadUpTo, w.dialog.visitor_read_up_to);
    if (this.nextBefore === null || this.messages.size === 0) this.nextBefore = w.next_before;
    // The SDK emits 'message' for welcome messages it has not shown yet; count what is unread.
    this.renderHeader();
    this.sync();
    this.markRead();
  }

  private setDialog(d: VisitorDialog | null): void {
    this.dialog = d;
    if (d)
      this.operatorReadUpTo.set(d.id, Math.max(this.operatorReadUpTo.get(d.id) ?? 0, d.operator_read_up_to));
  }

  private onMessage(m: VisitorMessage): void {
    const known = this.messages.has(m.id);
    this.messages.set(m.id, m);
    if (m.attachment) this.fileNames.set(m.attachment.id, m.attachment.file_name);
    if (!known && m.author !== 'visitor') {
      if (m.author === 'operator') this.showOperatorTyping(false);
      const current = m.dialog_id === this.dialog?.id;
      if (
        current &&
        m.id > this.visitorReadUpTo &&
        (!this.isOpen || document.visibilityState !== 'visible')
      ) {
        this.unread += 1;
        this.renderBadge();
      }
    }
    this.sync();
    this.markRead();
  }

  private onError(e: OmnitalkError): void {
    if (e.code === 'unauthorized' || e.code === 'forbidden') {
      this.stopped = true;
      this.renderState('closed');
      return;
    }
    // Busy servers and dropped typing frames are the SDK's to retry, not the visitor's concern.
    if (e.code === 'rate_limited' || e.code === 'internal' || e.code === 'disconnected') return;
    // A message the server refused for good (e.g. too long).
    this.setNote(this.t.refused + e.message);
    this.sync();
  }

  private showOperatorTyping(on: boolean): void {
    clearTimeout(this.operatorTypingTimer);
    show(this.typingRow, on);
    if (on)
      this.operatorTypingTimer = setTimeout(() => show(this.typingRow, false), OPERATOR_TYPING_SHOWN_MS);
  }

  // --- outgoing ---

  private onInput(): void {
    const text = this.input.value;
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 120)}px`;
    if (!text.trim()) {
      this.stopTyping();
      return;
    }
    if (this.chat.state !== 'online') return;
    this.typingOn = true;
    this.chat.typing(true);
    clearTimeout(this.typingIdle);
    this.typingIdle = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  private stopTyping(): void {
    clearTimeout(this.typingIdle);
    if (!this.typingOn) return;
    this.typingOn = false;
    this.chat.typing(false);
  }

  private sendTyped(): void {
    const text = this.input.value.trim();
    if (!text) return;
    if (text.length > this.maxText) {
      this.setNote(this.t.tooLong(this.maxText));
      return;
    }
    this.input.value = '';
    this.input.style.height = '';
    this.stopTyping();
    this.setNote(null);
    this.engaged();
    this.chat.send(text).catch(() => {}); // refusals arrive as 'error' events
    this.sync();
    this.scrollDown(true);
  }

  /** The visitor wrote to us: from now on every page of the site reconnects to get the answers. */
  private engaged(): void {
    this.setFlag('started', true);
    void this.start().catch(() => {});
  }

  private async attach(file: File): Promise<void> {
    const check = checkFile(file, this.maxAttachmentBytes);
    if (!check.ok) {
      this.setNote(
        check.reason === 'type'
          ? this.t.fileType
          : check.reason === 'empty'
            ? this.t.fileEmpty
            : this.t.fileSize(String(Math.floor(this.maxAttachmentBytes / 1024 / 1024))),
      );
      return;
    }
    if (this.chat.state !== 'online') {
      this.setNote(this.t.fileOffline);
      return;
    }
    this.setNote(this.t.uploading(file.name), true);
    try {
      const type = normalizedType(file.type);
      const body = type === file.type ? file : new File([file], file.name, { type });
      const stored = await this.chat.upload(body);
      this.fileNames.set(stored.id, stored.file_name);
      this.setNote(null);
      this.chat.send('', { attachmentId: stored.id }).catch(() => {});
      this.sync();
      this.scrollDown(true);
    } catch (error) {
      const e = error instanceof OmnitalkError ? error : null;
      this.setNote(
        e?.code === 'too_large'
          ? this.t.fileSize(String(Math.floor(this.maxAttachmentBytes / 1024 / 1024)))
          : e?.code === 'invalid_message'
            ? this.t.fileType
            : `${this.t.refused}${e?.message ?? String(error)}`,
      );
    }
  }

  private openForm(): void {
    this.formError.textContent = '';
    for (const input of Object.values(this.fields)) input.removeAttribute('aria-invalid');
    show(this.form, true);
    this.fields.name.focus();
  }

  private async submitContact(): Promise<void> {
    const value = (k: 'name' | 'phone' | 'email') => this.fields[k].value.trim();
    for (const input of Object.values(this.fields)) input.removeAttribute('aria-invalid');
    if (!value('phone') && !value('email')) {
      this.formError.textContent = this.t.contactNeedOne;
      this.fields.phone.setAttribute('aria-invalid', 'true');
      return;
    }
    this.formError.textContent = '';
    try {
      this.engaged();
      await this.start();
      await this.chat.submitContact({
        ...(value('name') && { name: value('name') }),
        ...(value('phone') && { phone: value('phone') }),
        ...(value('email') && { email: value('email') }),
      });
      this.contactGiven = true;
      this.setFlag('contact', true);
      show(this.form, false);
      this.setNote(this.t.contactSaved, true);
      this.renderHeader();
    } catch (error) {
      const e = error instanceof OmnitalkError ? error : null;
      if (e?.field === 'phone' || e?.field === 'email') {
        this.fields[e.field].setAttribute('aria-invalid', 'true');
        this.formError.textContent = e.field === 'phone' ? this.t.badPhone : this.t.badEmail;
      } else if (e?.code === 'disconnected' || e?.code === 'timeout') {
        this.formError.textContent = this.t.reconnecting;
      } else this.formError.textContent = e?.message ?? String(error);
    }
  }

  private markRead(): void {
    if (!this.isOpen || document.visibilityState !== 'visible' || this.chat.state !== 'online') return;
    const dialogId = this.dialog?.id;
    let upTo = 0;
    for (const m of this.messages.values())
      if (m.author !== 'visitor' && m.dialog_id === dialogId && m.id > upTo) upTo = m.id;
    const before = this.visitorReadUpTo;
    if (upTo <= before) return;
    this.visitorReadUpTo = upTo;
    this.chat.markRead(upTo).catch(() => {
      this.visitorReadUpTo = before; // tried again on the next occasion
    });
  }

  private async loadOlder(): Promise<void> {
    if (this.nextBefore === null) return;
    try {
      const page = await this.chat.history({ before: this.nextBefore });
      this.nextBefore = page.next_before;
      const height = this.list.scrollHeight;
      for (const m of page.items) this.messages.set(m.id, m);
      this.sync();
      this.list.scrollTop += this.list.scrollHeight - height;
    } catch {
      // Offline: the button stays for another try.
    }
  }

  // --- rendering ---

  private applyTexts(): void {
    for (const { el, text, attr } of this.labels) {
      if (attr) el.setAttribute(attr, text(this.t));
      else el.textContent = text(this.t);
    }
    this.renderHeader();
  }

  private renderHeader(): void {
    this.title.textContent = this.siteTitle ?? this.t.title;
    const name = this.dialog?.status === 'open' ? this.dialog.operator?.name : undefined;
    this.subtitle.textContent = name
      ? this.t.operator(name)
      : this.operatorsOnline
        ? this.t.online
        : this.t.offline;
    show(this.contactPrompt, !this.contactGiven && !name && !this.operatorsOnline && this.messages.size > 0);
  }

  private renderState(state: string): void {
    if (state === 'online') this.everOnline = true;
    let text: string | null = null;
    if (this.stopped || state === 'closed') text = this.stopped ? this.t.stopped : null;
    else if (state === 'offline' || (state === 'connecting' && this.everOnline)) text = this.t.reconnecting;
    else if (state === 'connecting') text = this.t.connecting;
    this.banner.textContent = text ?? '';
    this.banner.dataset.state = state;
    show(this.banner, text !== null);
    if (state === 'online') this.sync();
  }

  private renderBadge(): void {
    this.badge.textContent = this.unread > 9 ? '9+' : String(this.unread);
    show(this.badge, this.unread > 0 && !this.isOpen);
  }

  private setNote(text: string | null, ok = false): void {
    this.note.textContent = text ?? '';
    this.note.classList.toggle('ok', ok);
    show(this.note, text !== null);
  }

  private scrollDown(force = false): void {
    const l = this.list;
    if (force || l.scrollHeight - l.scrollTop - l.clientHeight < 80) l.scrollTop = l.scrollHeight;
  }

  private markOf(m: VisitorMessage): MarkState {
    return (this.operatorReadUpTo.get(m.dialog_id) ?? 0) >= m.id ? 'read' : 'delivered';
  }

  /** Brings the list in line with the delivered messages and the SDK's outbox, reusing nodes. */
  private sync(): void {
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
    const delivered = [...this.messages.values()].sort((a, b) => a.id - b.id);
    const sentIds = new Set(delivered.map((m) => m.client_id).filter((c): c is string => c !== null));
    const pending = this.chat.pending().filter((p) => !sentIds.has(p.client_id));
    const wanted: string[] = [];
    for (const m of delivered) wanted.push(this.renderMessage(m));
    for (const p of pending) wanted.push(this.renderPending(p));
    const keep = new Set(wanted);
    for (const [key, node] of this.nodes)
      if (!keep.has(key)) {
        node.remove();
        this.nodes.delete(key);
      }
    let before: ChildNode | null = this.olderButton.nextSibling;
    for (const key of wanted) {
      const node = this.nodes.get(key)!;
      if (node !== before) this.list.insertBefore(node, before);
      before = node.nextSibling;
    }
    show(this.emptyNote, wanted.length === 0);
    show(this.olderButton, this.nextBefore !== null && this.messages.size > 0);
    this.renderHeader();
    if (atBottom) this.scrollDown(true);
  }

  private renderMessage(m: VisitorMessage): string {
    const key = m.client_id ? `c${m.client_id}` : `m${m.id}`;
    let node = this.nodes.get(key);
    if (!node || node.dataset.id !== String(m.id)) {
      const fresh = this.bubble(m.author, m.author_name, m.text, m.attachment?.id ?? null, m.created_at);
      fresh.dataset.id = String(m.id);
      if (node) node.replaceWith(fresh);
      node = fresh;
      this.nodes.set(key, node);
    }
    if (m.author === 'visitor') this.setMark(node, this.markOf(m));
    return key;
  }

  private renderPending(p: PendingMessage): string {
    const key = `c${p.client_id}`;
    let node = this.nodes.get(key);
    if (!node) {
      node = this.bubble('visitor', null, p.text, p.attachment_id ?? null, p.created_at);
      this.nodes.set(key, node);
    }
    this.setMark(node, 'sending');
    return key;
  }

  private setMark(node: HTMLElement, state: MarkState): void {
    if (node.dataset.mark === state) return;
    node.dataset.mark = state;
    const mark = node.querySelector('.mark')!;
    mark.textContent = state === 'sending' ? '…' : state === 'read' ? '✓✓' : '✓';
    mark.setAttribute(
      'title',
      state === 'sending' ? this.t.sending : state === 'read' ? this.t.read : this.t.delivered,
    );
  }

  private bubble(
    author: VisitorMessage['author'],
    authorName: string | null,
    text: string,
    attachmentId: number | null,
    createdAt: string,
  ): HTMLElement {
    const mine = author === 'visitor';
    const node = h('div', {
      class: `msg ${mine ? 'mine' : author === 'system' ? 'system' : 'op'}`,
      'data-author': author,
    });
    if (author === 'operator' && authorName) node.append(h('span', { class: 'who', text: authorName }));
    if (text) node.append(text);
    if (attachmentId !== null) node.append(this.attachmentNode(attachmentId));
    if (author !== 'system') {
      const time = new Date(createdAt);
      const meta = h('span', {
        class: 'meta',
        text: Number.isNaN(time.getTime())
          ? ''
          : time.toLocaleTimeString(this.lang === 'en' ? 'en-GB' : 'ru-RU', {
              hour: '2-digit',
              minute: '2-digit',
            }),
      });
      if (mine) meta.append(h('span', { class: 'mark', 'data-omnitalk': 'mark' }));
      node.append(meta);
    }
    return node;
  }

  private attachmentNode(id: number): HTMLElement {
    const message = [...this.messages.values()].find((m) => m.attachment?.id === id);
    const a = message?.attachment;
    const name = a?.file_name ?? this.fileNames.get(id) ?? this.t.file;
    const url = this.chat.attachmentUrl(id);
    const link = h('a', {
      href: url,
      target: '_blank',
      rel: 'noopener noreferrer',
      'data-omnitalk': 'attachment',
    });
    if (a?.content_type.startsWith('image/')) link.append(h('img', { src: url, alt: name, loading: 'lazy' }));
    else link.append(`${name}${a ? ` (${formatBytes(a.size)})` : ''}`);
    return h('div', {}, link);
  }

  // --- small persistent flags (first-party localStorage, per site) ---

  private getFlag(name: string): string | null {
    try {
      return this.store?.getItem(this.keyPrefix + name) ?? null;
    } catch {
      return null;
    }
  }

  private setFlag(name: string, on: boolean): void {
    try {
      if (on) this.store?.setItem(this.keyPrefix + name, '1');
      else this.store?.removeItem(this.keyPrefix + name);
    } catch {
      // Storage denied: the widget still works for this page.
    }
  }
}

/** Constructable stylesheets pass strict CSP (no inline <style>); older browsers get a <style>. */
function adoptStyles(shadow: ShadowRoot): void {
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    shadow.adoptedStyleSheets = [sheet];
  } catch {
    shadow.append(h('style', { text: css }));
  }
}
