import { lookupOf } from './contact.ts';
import { notSupported } from './errors.ts';
import type { CrmConnector, CrmContactData, CrmContext, CrmRef } from './types.ts';

export interface PushOptions {
  /** The record this contact was already pushed to (stored by the runner), or null. */
  ref: CrmRef | null;
  responsibleUserId?: string | null;
}

export interface PushResult {
  ref: CrmRef;
  /** created: a new record; found: an existing record matched by phone/email; known: `ref` was given. */
  outcome: 'created' | 'found' | 'known';
}

/**
 * SPEC IN-0: push a captured/changed contact. A known record is updated; otherwise the CRM is searched by
 * phone and email first and a match is updated; only when nothing matches is a record created.
 *
 * This is also how the runner recovers from an unknown outcome (a create that timed out or got 5xx): it
 * calls pushContact again with `ref: null`, which searches before it creates, so a create the CRM did
 * carry out is found instead of duplicated.
 */
export async function pushContact<S>(
  connector: CrmConnector<S>,
  ctx: CrmContext<S>,
  contact: CrmContactData,
  options: PushOptions,
): Promise<PushResult> {
  if (connector.handlesContacts === false)
    throw notSupported(`${connector.title.en} keeps no contact records`);
  if (options.ref) {
    await connector.updateEntity(ctx, options.ref, contact);
    return { ref: options.ref, outcome: 'known' };
  }
  if (contact.phones.length > 0 || contact.emails.length > 0) {
    const found = await connector.findContact(ctx, lookupOf(contact));
    if (found) {
      await connector.updateEntity(ctx, found, contact);
      return { ref: found, outcome: 'found' };
    }
  }
  const ref = await connector.createEntity(ctx, contact, {
    responsibleUserId: options.responsibleUserId ?? null,
  });
  return { ref, outcome: 'created' };
}
