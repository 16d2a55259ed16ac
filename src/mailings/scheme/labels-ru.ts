import type { SchemeErrorCode } from './validation-codes.ts';
import type { BlockKind, ErrorReason, LinkKind, MessageStatus, SendChannel } from './vocabulary.ts';

/** Russian names the UI shows, taken from the seed's wording where it has one. */

export const channelLabelsRu = {
  sms: 'СМС',
  viber: 'Viber',
  voice: 'Голос',
  vk: 'Вконтакте',
  ok: 'Одноклассники',
} as const satisfies Record<SendChannel, string>;

export const blockKindLabelsRu = {
  send: 'Сообщение',
  delay: 'Задержка',
  goal: 'Цель достигнута',
} as const satisfies Record<BlockKind, string>;

export const linkKindLabelsRu = {
  status: 'Статус',
  response: 'Ответ',
  ivr: 'IVR',
  error: 'Ошибка',
  next: 'Далее',
} as const satisfies Record<LinkKind, string>;

export const statusLabelsRu = {
  spam: 'Спам',
  unsubscribed: 'Абонент отписался',
  clicked: 'Клик',
  viewed: 'Просмотрено',
  delivered: 'Доставлено',
  undelivered: 'Не доставлено',
  ivr: 'IVR',
  answered: 'Успешный вызов',
  no_answer: 'Нет дозвона',
} as const satisfies Record<MessageStatus, string>;

export const errorReasonLabelsRu = {
  insufficient_funds: 'Не хватило денежных средств',
  stop_listed: 'Абонент отписался (в стоп-листе)',
  invalid_parameters: 'Рассылка не соответствует параметрам',
  no_approved_sender: 'Нет согласованного имени отправителя',
  no_approved_template: 'Нет согласованного шаблона',
  invalid_number: 'Неверный номер',
} as const satisfies Record<ErrorReason, string>;

/** One line per validation code; the UI prefixes the block or link it is about. */
export const schemeErrorTitlesRu = {
  invalid_shape: 'Неверный формат схемы',
  unknown_field: 'Лишнее поле',
  duplicate_id: 'Повторяющийся идентификатор',
  invalid_channel: 'Не выбран канал или канал неизвестен',
  no_start_block: 'Не выбран начальный блок',
  multiple_start_blocks: 'Начальный блок должен быть один',
  invalid_start_block: 'Схема должна начинаться с отправки сообщения',
  unknown_block: 'Связь ведёт к несуществующему блоку',
  unreachable_block: 'До блока нельзя дойти от начального блока',
  cycle: 'Схема не должна содержать циклов',
  invalid_link_kind: 'Такой тип связи недоступен для этого блока',
  invalid_status: 'Статус недоступен для этого канала',
  invalid_response_words: 'Укажите слова ответа',
  invalid_digits: 'Укажите цифры: 0-9, * или #',
  digit_not_in_menu: 'Этой цифры нет в IVR-меню',
  invalid_error_reason: 'Неизвестная причина ошибки',
  goal_has_links: 'Из блока «Цель достигнута» не может выходить связей',
  delay_link_count: 'Из блока «Задержка» должна выходить ровно одна связь',
  decision_time_out_of_bounds: 'Время принятия решения вне допустимых пределов',
  delay_out_of_bounds: 'Длительность задержки вне допустимых пределов',
  invalid_content: 'Сообщение заполнено неверно',
  duplicate_link: 'Две связи срабатывают на одно и то же событие',
} as const satisfies Record<SchemeErrorCode, string>;
