import { advantshop } from './advantshop/index.ts';
import { alfacrm } from './alfacrm/index.ts';
import { amocrm } from './amocrm/index.ts';
import { bitrix24 } from './bitrix24/index.ts';
import { envycrm } from './envycrm/index.ts';
import { gravitel } from './gravitel/index.ts';
import { megaplan } from './megaplan/index.ts';
import { omnidesk } from './omnidesk/index.ts';
import { planfix } from './planfix/index.ts';
import { retailcrm } from './retailcrm/index.ts';
import type { CrmConnector, CrmSystem } from './types.ts';
import { uon } from './uon/index.ts';

/**
 * The CRM registry as a data table (ARCHITECTURE "Models to learn from"): which connector serves each
 * system of SPEC IN-1..IN-11. The runner and the cabinet only ever see CrmConnector; adding a CRM
 * touches its folder and one line here. Settings are typed per connector; at this boundary they are
 * `unknown` until the connector's settingsSchema has parsed them.
 */
export const crmConnectors: Record<CrmSystem, CrmConnector<unknown>> = {
  amocrm,
  bitrix24,
  retailcrm,
  omnidesk,
  planfix,
  alfacrm,
  uon,
  megaplan,
  envycrm,
  advantshop,
  gravitel,
};

export function crmConnector(system: CrmSystem): CrmConnector<unknown> {
  return crmConnectors[system];
}

/** Systems whose connector accepts requests from the CRM (staff replies, PBX events). */
export const twoWaySystems = (Object.keys(crmConnectors) as CrmSystem[]).filter(
  (system) => crmConnectors[system].parseInbound !== undefined,
);
