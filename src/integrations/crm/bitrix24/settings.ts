import { z } from 'zod';
import { apiBaseUrlField, field, hostInput } from '../settings.ts';

/**
 * IN-5 settings. Two ways in (crm-apis.md §2): an inbound webhook URL, or a local/market application with
 * OAuth 2.0. Open Lines (the optional "pass dialogs to Bitrix24 chat") work only in the application's
 * context: `imconnector.*` and `event.bind` refuse webhook calls with WRONG_AUTH_TYPE (b24-rest-docs
 * api-reference/imopenlines/imconnector/imconnector-register.md, tutorials/openlines/example-connector.md).
 */
export const bitrix24Settings = z
  .object({
    portal: field(hostInput(), { label: { ru: 'Домен портала', en: 'Portal domain' } }),
    webhookUrl: field(z.url({ protocol: /^https?$/ }).optional(), {
      label: { ru: 'Входящий вебхук', en: 'Inbound webhook URL' },
      help: {
        ru: 'Или установите приложение (OAuth) — тогда поле не нужно',
        en: 'Or install the application (OAuth) and leave this empty',
      },
      secret: true,
    }),
    clientId: field(z.string().trim().min(1).optional(), {
      label: { ru: 'Код приложения (client_id)', en: 'Application client_id' },
      advanced: true,
    }),
    clientSecret: field(z.string().trim().min(1).optional(), {
      label: { ru: 'Ключ приложения (client_secret)', en: 'Application client_secret' },
      secret: true,
      advanced: true,
    }),
    openLines: field(z.boolean().default(false), {
      label: { ru: 'Передавать диалоги в чат Битрикс', en: 'Pass dialogs to Bitrix24 chat (Open Lines)' },
      help: {
        ru: 'Нужно приложение (OAuth): сообщения посетителей уйдут в открытую линию, ответы операторов — посетителю',
        en: "Needs the application (OAuth): visitors' messages go to the Open Line, operators' replies come back",
      },
    }),
    openLinesLine: field(z.coerce.number().int().positive().optional(), {
      label: { ru: 'ID открытой линии', en: 'Open Line ID' },
      help: {
        ru: 'Номер линии из Контакт-центра (imopenlines.config.list.get)',
        en: 'The line number from the Contact Center (imopenlines.config.list.get)',
      },
    }),
    /** The unguessable segment of our event URL (filled by the hub with the integration's inbound token). */
    webhookToken: field(z.string().min(20).optional(), {
      label: { ru: 'Токен адреса событий', en: 'Event URL token' },
      secret: true,
      hidden: true,
    }),
    /** Our event URL as Bitrix24 must call it (filled by the hub from PUBLIC_URL). */
    inboundUrl: field(z.url({ protocol: /^https?$/ }).optional(), {
      label: { ru: 'Адрес событий', en: 'Event handler URL' },
      hidden: true,
    }),
    /** `auth[application_token]` of the app's events, learnt from a verified event (events.ts). */
    applicationToken: field(z.string().min(1).optional(), {
      label: { ru: 'Токен приложения', en: 'Application token' },
      secret: true,
      hidden: true,
    }),
    oauthServerUrl: field(z.url({ protocol: /^https?$/ }).default('https://oauth.bitrix24.tech'), {
      label: { ru: 'Сервер авторизации', en: 'OAuth server' },
      advanced: true,
    }),
    apiBaseUrl: apiBaseUrlField,
  })
  .refine((s) => s.webhookUrl !== undefined || (s.clientId !== undefined && s.clientSecret !== undefined), {
    message: 'give an inbound webhook URL or the application client_id and client_secret',
    path: ['webhookUrl'],
  })
  .refine((s) => !s.openLines || (s.clientId !== undefined && s.clientSecret !== undefined), {
    message: 'Open Lines work only through the application (client_id and client_secret), not a webhook',
    path: ['openLines'],
  })
  .refine((s) => !s.openLines || s.openLinesLine !== undefined, {
    message: 'give the Open Line ID to pass dialogs to',
    path: ['openLinesLine'],
  });
export type Bitrix24Settings = z.infer<typeof bitrix24Settings>;
