import {
  OmnitalkOperator,
  type OperatorDialog,
  type OperatorMessage,
  type OperatorPresence,
  type OperatorStatus,
  type PendingMessage,
  type VisitorCardUpdate,
} from '../../../sdk/src/index.ts';
import { formatBytes, h, show } from '../../../widget/src/dom.ts';
import { checkFile, DEFAULT_ATTACHMENT_BYTES, normalizedType } from '../../../widget/src/limits.ts';
import { type Auth, api, type Me } from './api.ts';

interface Card {
  contact: { name: string; phone: string | null; email: string | null } | null;
  pages: { url: string; title: string; visited_at: string }[];
  visitor: { user_agent: string; first_seen_at: string } | null;
  channel: string;
  address: string | null;
}

const statusNames: Record<OperatorStatus, string> = {
  online: 'В сети',
  away: 'Отошёл',
  offline: 'Не в сети',
};
const stateNames: Record<string, string> = {
  idle: '',
  connecting: 'подключение…',
  online: 'на связи',
  offline: 'нет соединения, переподключаемся…',
  closed: 'отключено',
};
const TYPING_SHOWN_MS = 7000;
const TYPING_IDLE_MS = 4000;

const time = (iso: string | null) =>
  iso ? new Date(iso).toLocaleTimeString('ru-RU', { hour: '2-digit', minute: '2-digit' }) : '';

/**
 * The plain operator page: the live list of open dialogs, one dialog's messages with typing and read
 * marks, answering (text and files), take/transfer/close, the visitor card, and the operator's status.
 */
export class OperatorApp {
  private readonly op: OmnitalkOperator;
  private readonly dialogs = new Map<number, OperatorDialog>();
  private readonly operators = new Map<number, OperatorPresence>();
  /** Each site's operator list (empty: every user of the account serves it), for the transfer choice. */
  private readonly siteOperators = new Map<number, number[]>();
  private sitesLoading: Promise<void> | null = null;
  /** Sites a dialog named before the list knew them: reloaded once each, not on every render. */
  private readonly sitesAsked = new Set<number>();
  private readonly messages = new Map<number, Map<number, OperatorMessage>>();
  private readonly lastAuthor = new Map<number, string>();
  private readonly visitorTyping = new Map<number, ReturnType<typeof setTimeout>>();
  private readonly blobUrls = new Map<number, Promise<string>>();
  private nextBefore = new Map<number, number | null>();
  private activeId: number | null = null;
  private myId: number | null = null;
  private maxAttachmentBytes = DEFAULT_ATTACHMENT_BYTES;
  private typingSentAt = 0;
  private typingIdle: ReturnType<typeof setTimeout> | undefined;
  private transferSignature = '';

  private readonly list: HTMLElement;
  private readonly status: HTMLSelectElement;
  private readonly conn: HTMLElement;
  private readonly meName: HTMLElement;
  private readonly chatHead: HTMLElement;
  private readonly chatTitle: HTMLElement;
  private readonly takeButton: HTMLButtonElement;
  private readonly closeButton: HTMLButtonElement;
  private readonly transferTo: HTMLSelectElement;
  private readonly transferButton: HTMLButtonElement;
  private readonly messageList: HTMLElement;
  private readonly olderButton: HTMLButtonElement;
  private readonly typingRow: HTMLElement;
  private readonly composer: HTMLElement;
  private readonly input: HTMLTextAreaElement;
  private readonly note: HTMLElement;
  private readonly card: HTMLElement;

  constructor(
    root: HTMLElement,
    private readonly auth: Auth,
    me: Me,
    onLogout: () => void,
  ) {
    this.op = new OmnitalkOperator({
      server: location.origin,
      ...(auth.token && { token: auth.token }),
      ...(auth.userId !== null && { userId: auth.userId }),
      storage: window.sessionStorage,
    });

    this.meName = h('span', { class: 'me', 'data-role': 'me', text: me.account?.name ?? '' });
    this.status = h('select', { 'data-role': 'status', title: 'Ваш статус' });
    for (const s of Object.keys(statusNames) as OperatorStatus[])
      this.status.append(h('option', { value: s, text: statusNames[s] }));
    this.status.addEventListener('change', () => {
      const value = this.status.value as OperatorStatus;
      this.op.setStatus(value).catch((e: Error) => this.setNote(`Статус не изменён: ${e.message}`));
    });
    this.conn = h('span', { class: 'conn', 'data-role': 'connection' });
    const logout = h('button', { type: 'button', text: 'Выйти', onclick: () => onLogout() });

    this.list = h('div', { class: 'dialogs', 'data-role': 'dialogs' });
    this.chatTitle = h('div', { class: 't', 'data-role': 'dialog-title' });
    this.takeButton = h('button', {
      type: 'button',
      text: 'Взять себе',
      'data-role': 'take',
      onclick: () => this.take(),
    });
    this.closeButton = h('button', {
      type: 'button',
      text: 'Закрыть диалог',
      'data-role': 'close',
      onclick: () => this.closeDialog(),
    });
    this.transferTo = h('select', { 'data-role': 'transfer-to', title: 'Кому передать диалог' });
    this.transferButton = h('button', {
      type: 'button',
      text: 'Передать',
      'data-role': 'transfer',
      onclick: () => this.transfer(),
    });
    this.chatHead = h(
      'div',
      { class: 'head', hidden: true },
      this.chatTitle,
      this.takeButton,
      this.transferTo,
      this.transferButton,
      this.closeButton,
    );
    this.olderButton = h('button', {
      type: 'button',
      text: 'Ранее',
      hidden: true,
      onclick: () => void this.loadOlder(),
    });
    this.messageList = h(
      'div',
      { class: 'messages', 'data-role': 'messages' },
      h('div', { class: 'empty', text: 'Выберите диалог слева' }),
    );
    this.typingRow = h('div', { class: 'typing-row', 'data-role': 'typing' });
    this.input = h('textarea', {
      placeholder: 'Ответ посетителю… (Enter — отправить)',
      'data-role': 'input',
    });
    this.input.addEventListener('input', () => this.onInput());
    this.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.sendTyped();
      }
    });
    const file = h('input', { type: 'file', hidden: true, 'data-role': 'file' });
    file.addEventListener('change', () => {
      const f = file.files?.[0];
      file.value = '';
      if (f) void this.attach(f);
    });
    this.note = h('div', { class: 'err', 'data-role': 'note' });
    this.composer = h(
      'div',
      { class: 'composer', hidden: true },
      h('button', { type: 'button', text: 'Файл…', title: 'Прикрепить файл', onclick: () => file.click() }),
      file,
      this.input,
      h('button', {
        class: 'primary',
        type: 'button',
        text: 'Отправить',
        'data-role': 'send',
        onclick: () => this.sendTyped(),
      }),
    );
    this.card = h('div', { class: 'card', 'data-role': 'card' });

    root.append(
      h(
        'div',
        { class: 'app' },
        h('div', { class: 'top' }, this.meName, this.conn, this.status, logout),
        h(
          'div',
          { class: 'cols' },
          this.list,
          h(
            'div',
            { class: 'chat' },
            this.chatHead,
            this.olderButton,
            this.messageList,
            this.typingRow,
            this.note,
            this.composer,
          ),
          this.card,
        ),
      ),
    );

    this.op.on('state', (s) => {
      this.conn.textContent = stateNames[s] ?? s;
      this.conn.dataset.state = s;
    });
    this.op.on('welcome', (w) => {
      this.myId = w.user?.id ?? null;
      this.meName.textContent = w.user ? `${w.user.name || w.user.email}` : 'API (наблюдатель)';
      this.status.value = w.status;
      show(this.status, w.user !== null);
      this.maxAttachmentBytes = w.limits.attachment_bytes;
      this.operators.clear();
      for (const o of w.operators) this.operators.set(o.user_id, o);
      this.dialogs.clear();
      for (const d of w.dialogs) this.dialogs.set(d.id, d);
      if (this.activeId !== null && !this.dialogs.has(this.activeId)) void this.fetchDialog(this.activeId);
      this.renderList();
      this.renderHead();
      void this.loadSites();
      if (this.activeId !== null) void this.reloadActive();
    });
    this.op.on('dialog', (d) => this.upsertDialog(d));
    this.op.on('message', (m) => this.onMessage(m));
    this.op.on('read', (e) => {
      const d = this.dialogs.get(e.dialog_id);
      if (!d) return;
      if (e.by === 'visitor') d.visitor_read_up_to = Math.max(d.visitor_read_up_to, e.up_to);
      else d.operator_read_up_to = Math.max(d.operator_read_up_to, e.up_to);
      this.renderList();
      if (e.dialog_id === this.activeId) this.renderMessages();
    });
    this.op.on('typing', (e) => {
      if (e.by !== 'visitor') return;
      clearTimeout(this.visitorTyping.get(e.dialog_id));
      if (e.on)
        this.visitorTyping.set(
          e.dialog_id,
          setTimeout(() => {
            this.visitorTyping.delete(e.dialog_id);
            this.renderTyping();
          }, TYPING_SHOWN_MS),
        );
      else this.visitorTyping.delete(e.dialog_id);
      this.renderTyping();
    });
    this.op.on('presence', (p) => {
      this.operators.set(p.user_id, p);
      if (p.user_id === this.myId) this.status.value = p.chosen_status;
      this.renderList();
      this.renderHead();
    });
    this.op.on('visitor', (v) => this.onVisitor(v));
    this.op.on('resync', () => void this.reloadActive());
    this.op.on('error', (e) => this.setNote(e.message));
    document.addEventListener('visibilitychange', () => this.markRead());

    this.op.connect().catch((e: Error) => this.setNote(`Не удалось подключиться: ${e.message}`));
  }

  stop(): void {
    this.op.close();
  }

  // --- data ---

  private upsertDialog(d: OperatorDialog): void {
    if (d.status === 'closed' && d.id !== this.activeId) this.dialogs.delete(d.id);
    else this.dialogs.set(d.id, d);
    this.renderList();
    if (d.id === this.activeId) this.renderHead();
  }

  private async fetchDialog(id: number): Promise<void> {
    try {
      this.upsertDialog(await api<OperatorDialog>(this.auth, 'GET', `/api/v1/dialogs/${id}`));
    } catch {
      // Not visible to us (another account's id, deleted): ignore.
    }
  }

  private onMessage(m: OperatorMessage): void {
    const d = this.dialogs.get(m.dialog_id);
    if (!d) void this.fetchDialog(m.dialog_id);
    else {
      if ((d.last_message_id ?? 0) < m.id) {
        d.last_message_id = m.id;
        d.last_message_at = m.created_at;
        this.lastAuthor.set(m.dialog_id, m.author);
      }
    }
    const loaded = this.messages.get(m.dialog_id);
    loaded?.set(m.id, m);
    if (m.author === 'visitor') {
      clearTimeout(this.visitorTyping.get(m.dialog_id));
      this.visitorTyping.delete(m.dialog_id);
      this.renderTyping();
    }
    this.renderList();
    if (m.dialog_id === this.activeId) {
      this.renderMessages(true);
      this.markRead();
    }
  }

  private onVisitor(v: VisitorCardUpdate): void {
    for (const d of this.dialogs.values()) if (d.visitor_id === v.id) d.contact = v.contact;
    this.renderList();
    const active = this.activeId !== null ? this.dialogs.get(this.activeId) : undefined;
    if (active?.visitor_id === v.id) {
      this.renderHead();
      void this.loadCard(active.id);
    }
  }

  private async open(id: number): Promise<void> {
    this.activeId = id;
    this.input.value = '';
    this.transferTo.value = '';
    this.setNote('');
    this.renderList();
    this.renderHead();
    show(this.composer, true);
    await this.reloadActive();
    this.input.focus();
  }

  private async reloadActive(): Promise<void> {
    const id = this.activeId;
    if (id === null || this.op.state !== 'online') return;
    try {
      const page = await this.op.history(id);
      const map = this.messages.get(id) ?? new Map<number, OperatorMessage>();
      for (const m of page.items) map.set(m.id, m);
      this.messages.set(id, map);
      if (!this.nextBefore.has(id)) this.nextBefore.set(id, page.next_before);
      if (id !== this.activeId) return;
      this.renderMessages(true);
      this.markRead();
      void this.loadCard(id);
    } catch (e) {
      this.setNote(`История не загрузилась: ${(e as Error).message}`);
    }
  }

  private async loadOlder(): Promise<void> {
    const id = this.activeId;
    const before = id !== null ? this.nextBefore.get(id) : null;
    if (id === null || !before) return;
    const page = await this.op.history(id, { before });
    const map = this.messages.get(id)!;
    for (const m of page.items) map.set(m.id, m);
    this.nextBefore.set(id, page.next_before);
    this.renderMessages();
  }

  private async loadCard(id: number): Promise<void> {
    try {
      const card = await api<Card>(this.auth, 'GET', `/api/v1/dialogs/${id}/card`);
      if (id === this.activeId) this.renderCard(card);
    } catch {
      this.card.replaceChildren();
    }
  }

  /** Sites and their operators (reloaded on every connect, and when a dialog of an unknown site shows). */
  private loadSites(): Promise<void> {
    this.sitesLoading ??= api<{ items: { id: number; operator_ids: number[] }[] }>(
      this.auth,
      'GET',
      '/api/v1/sites',
    )
      .then((sites) => {
        this.siteOperators.clear();
        for (const site of sites.items) this.siteOperators.set(site.id, site.operator_ids);
      })
      .catch(() => {
        // Without the list, every operator of the account is offered (the server checks the target).
      })
      .finally(() => {
        this.sitesLoading = null;
        this.renderHead();
      });
    return this.sitesLoading;
  }

  private markRead(): void {
    const id = this.activeId;
    if (id === null || document.visibilityState !== 'visible' || this.op.state !== 'online') return;
    const d = this.dialogs.get(id);
    const map = this.messages.get(id);
    if (!d || !map) return;
    let upTo = 0;
    for (const m of map.values()) if (m.id > upTo) upTo = m.id;
    if (upTo <= d.operator_read_up_to) return;
    d.operator_read_up_to = upTo;
    this.op.markRead(id, upTo).catch(() => {});
    this.renderList();
  }

  // --- actions ---

  private onInput(): void {
    const id = this.activeId;
    if (id === null) return;
    const now = Date.now();
    if (this.input.value.trim() && now - this.typingSentAt > 3000) {
      this.typingSentAt = now;
      this.op.typing(id, true);
    }
    clearTimeout(this.typingIdle);
    this.typingIdle = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  private stopTyping(): void {
    clearTimeout(this.typingIdle);
    if (this.typingSentAt && this.activeId !== null) this.op.typing(this.activeId, false);
    this.typingSentAt = 0;
  }

  private sendTyped(): void {
    const id = this.activeId;
    const text = this.input.value.trim();
    if (id === null || !text) return;
    this.input.value = '';
    this.stopTyping();
    this.setNote('');
    this.op.send(id, text).catch((e: Error) => this.setNote(`Не отправлено: ${e.message}`));
    this.renderMessages(true);
  }

  private async attach(file: File): Promise<void> {
    const id = this.activeId;
    if (id === null) return;
    const check = checkFile(file, this.maxAttachmentBytes);
    if (!check.ok) {
      this.setNote(
        check.reason === 'size'
          ? `Файл больше ${formatBytes(this.maxAttachmentBytes)}`
          : check.reason === 'empty'
            ? 'Файл пустой'
            : 'Такой тип файла отправить нельзя',
      );
      return;
    }
    const form = new FormData();
    const type = normalizedType(file.type);
    form.append('file', type === file.type ? file : new File([file], file.name, { type }), file.name);
    try {
      this.setNote(`Загружаем ${file.name}…`);
      const stored = await api<{ id: number }>(this.auth, 'POST', '/api/v1/chat/attachments', form);
      this.setNote('');
      this.op.send(id, '', { attachmentId: stored.id }).catch((e: Error) => this.setNote(e.message));
    } catch (e) {
      this.setNote(`Файл не загружен: ${(e as Error).message}`);
    }
  }

  private take(): void {
    const id = this.activeId;
    if (id === null) return;
    this.op
      .take(id)
      .then((d) => this.upsertDialog(d))
      .catch((e: Error) => this.setNote(e.message));
  }

  private transfer(): void {
    const id = this.activeId;
    const to = Number(this.transferTo.value);
    if (id === null) return;
    if (!to) {
      this.setNote('Выберите оператора, которому передать диалог');
      return;
    }
    this.setNote('');
    this.op
      .transfer(id, to)
      .then((d) => this.upsertDialog(d))
      .catch((e: Error) => this.setNote(`Диалог не передан: ${e.message}`));
  }

  private closeDialog(): void {
    const id = this.activeId;
    if (id === null) return;
    this.op
      .closeDialog(id)
      .then((d) => this.upsertDialog(d))
      .catch((e: Error) => this.setNote(e.message));
  }

  // --- rendering ---

  private label(d: OperatorDialog): string {
    const c = d.contact;
    return c?.name || c?.phone || c?.email || d.address || `Посетитель #${d.visitor_id ?? d.id}`;
  }

  private operatorName(id: number | null): string {
    if (id === null) return 'ожидает оператора';
    const o = this.operators.get(id);
    return o ? o.name || o.email : `оператор #${id}`;
  }

  private renderList(): void {
    const items = [...this.dialogs.values()]
      .filter((d) => d.status === 'open' || d.id === this.activeId)
      .sort((a, b) => (b.last_message_at ?? b.created_at).localeCompare(a.last_message_at ?? a.created_at));
    if (items.length === 0) {
      this.list.replaceChildren(h('div', { class: 'none', text: 'Открытых диалогов нет' }));
      return;
    }
    this.list.replaceChildren(
      ...items.map((d) => {
        const unread =
          (d.last_message_id ?? 0) > d.operator_read_up_to && this.lastAuthor.get(d.id) !== 'operator';
        return h(
          'div',
          {
            class: `item${d.id === this.activeId ? ' active' : ''}`,
            'data-role': 'dialog',
            'data-dialog-id': d.id,
            onclick: () => void this.open(d.id),
          },
          unread ? h('span', { class: 'unread', text: 'новое', 'data-role': 'unread' }) : null,
          h('b', { text: this.label(d) }),
          h('div', {
            class: 'sub',
            text: `№${d.id} · ${d.channel === 'web' ? 'сайт' : d.channel} · ${this.operatorName(d.operator_id)}${d.status === 'closed' ? ' · закрыт' : ''}`,
          }),
          this.visitorTyping.has(d.id) ? h('div', { class: 'typing', text: 'печатает…' }) : null,
        );
      }),
    );
  }

  private renderHead(): void {
    const d = this.activeId !== null ? this.dialogs.get(this.activeId) : undefined;
    show(this.chatHead, Boolean(d));
    if (!d) return;
    this.chatTitle.textContent = `${this.label(d)} — ${this.operatorName(d.operator_id)}${d.status === 'closed' ? ' (закрыт)' : ''}`;
    show(this.takeButton, d.status === 'open' && d.operator_id !== this.myId && this.myId !== null);
    show(this.closeButton, d.status === 'open');
    show(this.composer, d.status === 'open');
    this.renderTransfer(d);
  }

  /** Who the dialog can go to: the site's operators (all users when the site names none), not its own. */
  private transferTargets(d: OperatorDialog): OperatorPresence[] {
    const serving = d.site_id === null ? undefined : this.siteOperators.get(d.site_id);
    if (d.site_id !== null && serving === undefined && !this.sitesAsked.has(d.site_id)) {
      this.sitesAsked.add(d.site_id);
      void this.loadSites();
    }
    return [...this.operators.values()].filter(
      (o) =>
        o.user_id !== d.operator_id &&
        o.user_id !== this.myId &&
        (!serving || serving.length === 0 || serving.includes(o.user_id)),
    );
  }

  private renderTransfer(d: OperatorDialog): void {
    const targets = d.status === 'open' ? this.transferTargets(d) : [];
    const options = targets.map((o) => ({
      value: String(o.user_id),
      text: `${o.name || o.email} — ${statusNames[o.status].toLowerCase()}`,
    }));
    // Rebuilt only when the choice changes, so a presence heartbeat does not reset an open list.
    const signature = JSON.stringify(options);
    show(this.transferTo, targets.length > 0);
    show(this.transferButton, targets.length > 0);
    if (signature === this.transferSignature) return;
    this.transferSignature = signature;
    const chosen = this.transferTo.value;
    this.transferTo.replaceChildren(
      h('option', { value: '', text: 'Передать оператору…' }),
      ...options.map((o) => h('option', o)),
    );
    // Keep what the operator picked while it is still offered.
    if (options.some((o) => o.value === chosen)) this.transferTo.value = chosen;
  }

  private renderTyping(): void {
    this.typingRow.textContent =
      this.activeId !== null && this.visitorTyping.has(this.activeId) ? 'Посетитель печатает…' : '';
    this.renderList();
  }

  private renderMessages(scroll = false): void {
    const id = this.activeId;
    if (id === null) return;
    const d = this.dialogs.get(id);
    const list = this.messageList;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    const delivered = [...(this.messages.get(id)?.values() ?? [])].sort((a, b) => a.id - b.id);
    const sent = new Set(delivered.map((m) => m.client_id));
    const pending = this.op.pending().filter((p) => p.dialog_id === id && !sent.has(p.client_id));
    list.replaceChildren(
      ...delivered.map((m) => this.bubble(m, d)),
      ...pending.map((p) => this.pendingBubble(p)),
    );
    show(this.olderButton, Boolean(this.nextBefore.get(id)));
    if (scroll || atBottom) list.scrollTop = list.scrollHeight;
  }

  private bubble(m: OperatorMessage, d: OperatorDialog | undefined): HTMLElement {
    const node = h('div', { class: `msg ${m.author}`, 'data-role': 'message', 'data-author': m.author });
    if (m.author !== 'system')
      node.append(
        h('span', { class: 'who', text: m.author_name ?? (m.author === 'visitor' ? 'Посетитель' : 'API') }),
      );
    if (m.text) node.append(m.text);
    if (m.attachment) node.append(this.attachmentNode(m.attachment));
    if (m.author !== 'system') {
      const meta = h('span', { class: 'meta', text: time(m.created_at) });
      if (m.author === 'operator') {
        const read = (d?.visitor_read_up_to ?? 0) >= m.id;
        meta.append(
          h('span', {
            'data-role': 'mark',
            'data-mark': read ? 'read' : 'delivered',
            title: read ? 'Прочитано' : 'Доставлено',
            text: read ? ' ✓✓' : ' ✓',
          }),
        );
        if (m.delivery === 'failed') meta.append(` · не доставлено: ${m.delivery_error ?? ''}`);
      }
      node.append(meta);
    }
    return node;
  }

  private pendingBubble(p: PendingMessage): HTMLElement {
    return h(
      'div',
      { class: 'msg operator', 'data-role': 'message', 'data-author': 'operator' },
      p.text || 'Файл…',
      h('span', { class: 'meta' }, h('span', { 'data-role': 'mark', 'data-mark': 'sending', text: '…' })),
    );
  }

  private attachmentNode(a: NonNullable<OperatorMessage['attachment']>): HTMLElement {
    const link = h('a', {
      href: '#',
      'data-role': 'attachment',
      text: `Файл: ${a.file_name} (${formatBytes(a.size)})`,
    });
    // Fetched with the page's credentials (cookie or token) and shown from a blob: URL.
    const url = () => {
      let p = this.blobUrls.get(a.id);
      if (!p) {
        p = api<Blob>(this.auth, 'GET', `/api/v1/chat/attachments/${a.id}`, undefined, true).then((b) =>
          URL.createObjectURL(b),
        );
        this.blobUrls.set(a.id, p);
        p.catch(() => this.blobUrls.delete(a.id));
      }
      return p;
    };
    link.addEventListener('click', (event) => {
      event.preventDefault();
      void url().then((u) => window.open(u, '_blank', 'noopener'));
    });
    const box = h('div', {}, link);
    if (a.content_type.startsWith('image/'))
      void url().then((u) => box.append(h('img', { src: u, alt: a.file_name })));
    return box;
  }

  private renderCard(card: Card): void {
    const c = card.contact;
    const row = (label: string, value: string | null | undefined) =>
      h('div', {}, h('b', { text: `${label}: ` }), value || '—');
    this.card.replaceChildren(
      h('h3', { text: 'Контакт' }),
      h(
        'div',
        { 'data-role': 'contact' },
        row('Имя', c?.name),
        row('Телефон', c?.phone),
        row('Email', c?.email),
      ),
      h('h3', { text: 'Канал' }),
      h('div', { text: card.channel === 'web' ? 'сайт' : `${card.channel} ${card.address ?? ''}` }),
      ...(card.visitor
        ? [h('h3', { text: 'Браузер' }), h('div', { text: card.visitor.user_agent || '—' })]
        : []),
      h('h3', { text: 'Страницы' }),
      h(
        'ul',
        { 'data-role': 'pages' },
        ...card.pages
          .slice(0, 10)
          .map((p) => h('li', {}, h('span', { text: `${time(p.visited_at)} ` }), p.title || p.url)),
      ),
    );
  }

  private setNote(text: string): void {
    this.note.textContent = text;
  }
}
