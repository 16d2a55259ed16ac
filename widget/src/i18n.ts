/** The widget speaks Russian first; English when the snippet, the site settings or the page ask for it. */
export type Lang = 'ru' | 'en';

const ru = {
  open: 'Открыть чат',
  close: 'Свернуть чат',
  title: 'Онлайн-чат',
  online: 'Операторы в сети — ответим сейчас',
  offline: 'Оставьте сообщение — ответим, как только сможем',
  operator: (name: string) => `Вам отвечает ${name}`,
  connecting: 'Подключаемся…',
  reconnecting: 'Нет соединения. Переподключаемся… Сообщения отправятся сами.',
  stopped: 'Чат недоступен на этой странице.',
  empty: 'Здравствуйте! Напишите нам — мы на связи.',
  placeholder: 'Напишите сообщение…',
  send: 'Отправить',
  attach: 'Прикрепить файл',
  older: 'Показать более ранние',
  typing: 'Оператор печатает…',
  sending: 'Отправляется',
  delivered: 'Доставлено',
  read: 'Прочитано',
  failed: 'Не отправлено',
  you: 'Вы',
  contactOpen: 'Оставить контакты',
  contactTitle: 'Как с вами связаться?',
  contactHint: 'Оставьте телефон или email — ответим, даже если вы закроете страницу.',
  name: 'Имя',
  phone: 'Телефон',
  email: 'Email',
  save: 'Сохранить',
  cancel: 'Отмена',
  contactSaved: 'Спасибо! Контакты сохранены.',
  contactNeedOne: 'Укажите телефон или email',
  badPhone: 'Проверьте номер телефона',
  badEmail: 'Проверьте email',
  fileType: 'Такой файл отправить нельзя: подойдут изображения, PDF, TXT, DOC(X), XLS(X) и ZIP.',
  fileSize: (mb: string) => `Файл слишком большой: не больше ${mb} МБ.`,
  fileEmpty: 'Файл пустой.',
  fileOffline: 'Нет соединения: файл можно отправить, когда чат подключится.',
  uploading: (name: string) => `Загружаем ${name}…`,
  tooLong: (n: number) => `Сообщение длиннее ${n} символов.`,
  refused: 'Сообщение не отправлено: ',
  file: 'Файл',
};

export type Strings = typeof ru;

const en: Strings = {
  open: 'Open chat',
  close: 'Minimise chat',
  title: 'Live chat',
  online: 'We are online — ask us anything',
  offline: 'Leave a message — we will answer as soon as we can',
  operator: (name: string) => `${name} is answering you`,
  connecting: 'Connecting…',
  reconnecting: 'Connection lost. Reconnecting… Your messages will be sent.',
  stopped: 'The chat is not available on this page.',
  empty: 'Hello! Write to us — we are here.',
  placeholder: 'Type a message…',
  send: 'Send',
  attach: 'Attach a file',
  older: 'Show earlier messages',
  typing: 'Operator is typing…',
  sending: 'Sending',
  delivered: 'Delivered',
  read: 'Read',
  failed: 'Not sent',
  you: 'You',
  contactOpen: 'Leave your contacts',
  contactTitle: 'How can we reach you?',
  contactHint: 'Leave a phone or an email — we will answer even if you close the page.',
  name: 'Name',
  phone: 'Phone',
  email: 'Email',
  save: 'Save',
  cancel: 'Cancel',
  contactSaved: 'Thank you! Your contacts are saved.',
  contactNeedOne: 'Give a phone or an email',
  badPhone: 'Check the phone number',
  badEmail: 'Check the email',
  fileType: 'This file cannot be sent: images, PDF, TXT, DOC(X), XLS(X) and ZIP are fine.',
  fileSize: (mb: string) => `The file is too large: at most ${mb} MB.`,
  fileEmpty: 'The file is empty.',
  fileOffline: 'No connection: send the file once the chat is back.',
  uploading: (name: string) => `Uploading ${name}…`,
  tooLong: (n: number) => `The message is longer than ${n} characters.`,
  refused: 'Not sent: ',
  file: 'File',
};

export const strings: Record<Lang, Strings> = { ru, en };

/** "en", "en-GB" → en; anything else (or nothing) → ru. */
export function pickLang(...candidates: (string | null | undefined)[]): Lang {
  for (const c of candidates) {
    const v = c?.trim().toLowerCase();
    if (!v) continue;
    if (v.startsWith('en')) return 'en';
    if (v.startsWith('ru')) return 'ru';
  }
  return 'ru';
}
