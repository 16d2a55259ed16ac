import { z } from 'zod';
import type { SecretBox } from '../../accounts/secrets.ts';

/**
 * Connector settings are one zod object per CRM. Each field carries metadata in `settingsFields`, and that
 * single declaration drives validation, the cabinet form, and secrecy:
 * - `secret`: stored encrypted (SecretBox) and never returned to the cabinet, only "is set";
 * - `transient`: accepted from the form only to obtain a token (Megaplan, Planfix passwords) and never
 *   stored — `storableSettings` drops it even if a connector forgot to;
 * - `hidden`: filled by the platform (OAuth results, generated keys), not typed by the user;
 * - `advanced`: an expert override such as `apiBaseUrl`, folded away in the form.
 */
export interface SettingsFieldMeta {
  label: { ru: string; en: string };
  help?: { ru: string; en: string };
  secret?: boolean;
  transient?: boolean;
  hidden?: boolean;
  advanced?: boolean;
}

export const settingsFields = z.registry<SettingsFieldMeta>();

/** Declares one settings field with its form and secrecy metadata. */
export function field<T extends z.ZodType>(schema: T, meta: SettingsFieldMeta): T {
  settingsFields.add(schema, meta);
  return schema;
}

/**
 * The per-integration override every connector accepts: tests point it at a local fake, and a customer
 * with a custom domain or a proxy can set it. Plain https only outside tests is the runner's policy.
 */
export const apiBaseUrlField = field(z.url({ protocol: /^https?$/ }).optional(), {
  label: { ru: 'Адрес API (переопределение)', en: 'API base URL (override)' },
  help: {
    ru: 'Оставьте пустым: адрес берётся из домена',
    en: 'Leave empty: the address is derived from the domain',
  },
  advanced: true,
});

/** A host name the customer types: "example", "example.amocrm.ru", with or without https:// and a slash. */
export function hostInput() {
  return z
    .string()
    .trim()
    .min(1)
    .transform((value) =>
      value
        .replace(/^https?:\/\//i, '')
        .replace(/\/.*$/, '')
        .toLowerCase(),
    )
    .refine((host) => /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d+)?$/.test(host), {
      message: 'not a domain name',
    });
}

/** Joins a base URL (with or without a trailing slash) and a path. */
export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + (path.startsWith('/') ? path : `/${path}`);
}

export type SettingsShape = z.ZodObject<z.ZodRawShape>;

export interface SettingsFormField {
  key: string;
  label: { ru: string; en: string };
  help?: { ru: string; en: string };
  required: boolean;
  secret: boolean;
  transient: boolean;
  advanced: boolean;
  type: 'string' | 'url' | 'number' | 'boolean';
}

function metaOf(schema: z.ZodType): SettingsFieldMeta | undefined {
  return settingsFields.get(schema);
}

function typeOf(schema: z.ZodType): SettingsFormField['type'] {
  let inner: z.ZodType = schema;
  while (inner instanceof z.ZodOptional || inner instanceof z.ZodDefault) {
    inner = inner.unwrap() as z.ZodType;
  }
  if (inner instanceof z.ZodURL) return 'url';
  if (inner instanceof z.ZodNumber) return 'number';
  if (inner instanceof z.ZodBoolean) return 'boolean';
  return 'string';
}

/** The cabinet form: every field the user fills in, in declaration order (hidden fields left out). */
export function settingsForm(schema: SettingsShape): SettingsFormField[] {
  const fields: SettingsFormField[] = [];
  for (const [key, value] of Object.entries(schema.shape)) {
    const meta = metaOf(value as z.ZodType);
    if (!meta || meta.hidden) continue;
    fields.push({
      key,
      label: meta.label,
      ...(meta.help ? { help: meta.help } : {}),
      required: !(value as z.ZodType).safeParse(undefined).success,
      secret: meta.secret === true,
      transient: meta.transient === true,
      advanced: meta.advanced === true,
      type: typeOf(value as z.ZodType),
    });
  }
  return fields;
}

function keysWhere(schema: SettingsShape, test: (meta: SettingsFieldMeta) => boolean): string[] {
  return Object.entries(schema.shape)
    .filter(([, value]) => {
      const meta = metaOf(value as z.ZodType);
      return meta !== undefined && test(meta);
    })
    .map(([key]) => key);
}

export const secretKeys = (schema: SettingsShape) => keysWhere(schema, (m) => m.secret === true);
export const transientKeys = (schema: SettingsShape) => keysWhere(schema, (m) => m.transient === true);

/** Settings as they may be stored: transient fields (passwords given only to get a token) removed. */
export function storableSettings<T extends object>(schema: SettingsShape, settings: T): Partial<T> {
  const out = { ...settings } as Record<string, unknown>;
  for (const key of transientKeys(schema)) delete out[key];
  return out as Partial<T>;
}

/**
 * Settings as the cabinet may see them: no secret and no transient value, and for each secret whether it
 * is set, so the form can show "••• (set)" and leave it unchanged when submitted empty.
 */
export function publicSettings(
  schema: SettingsShape,
  settings: Record<string, unknown>,
): { values: Record<string, unknown>; secretsSet: string[] } {
  const hide = new Set([...secretKeys(schema), ...transientKeys(schema)]);
  const values: Record<string, unknown> = {};
  const secretsSet: string[] = [];
  for (const [key, value] of Object.entries(settings)) {
    if (!(key in schema.shape)) continue;
    if (hide.has(key)) {
      if (value !== undefined && value !== null && value !== '') secretsSet.push(key);
      continue;
    }
    values[key] = value;
  }
  return { values, secretsSet };
}

/**
 * A settings update from the cabinet: a secret field left empty keeps its stored value (the form never
 * had it), anything else replaces. Validate the result with the schema afterwards.
 */
export function mergeSettingsUpdate(
  schema: SettingsShape,
  stored: Record<string, unknown>,
  input: Record<string, unknown>,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...input };
  for (const key of secretKeys(schema)) {
    const given = input[key];
    if ((given === undefined || given === '') && stored[key] !== undefined) merged[key] = stored[key];
  }
  return merged;
}

export interface SealedSettings {
  /** Non-secret values, fine to keep in a plain JSON column. */
  plain: Record<string, unknown>;
  /** The secret values as one AES-GCM ciphertext, or null when there are none. */
  sealed: string | null;
}

/** Splits storable settings into plain values and one encrypted blob bound to its owner (`associatedData`). */
export function sealSettings(
  schema: SettingsShape,
  settings: Record<string, unknown>,
  box: SecretBox,
  associatedData: string,
): SealedSettings {
  const storable = storableSettings(schema, settings) as Record<string, unknown>;
  const secrets = new Set(secretKeys(schema));
  const plain: Record<string, unknown> = {};
  const hidden: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(storable)) {
    if (secrets.has(key)) hidden[key] = value;
    else plain[key] = value;
  }
  const sealed = Object.keys(hidden).length > 0 ? box.encrypt(JSON.stringify(hidden), associatedData) : null;
  return { plain, sealed };
}

/** The inverse of sealSettings, validated again by the schema (a stored row is input too). */
export function openSettings<S extends SettingsShape>(
  schema: S,
  stored: SealedSettings,
  box: SecretBox,
  associatedData: string,
): z.infer<S> {
  const secrets = stored.sealed ? (JSON.parse(box.decrypt(stored.sealed, associatedData)) as object) : {};
  return schema.parse({ ...stored.plain, ...secrets });
}
