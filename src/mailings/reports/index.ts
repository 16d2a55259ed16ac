/** Reports on mailings (SPEC RP): per-mailing report, message and recipient lists, Excel exports, charts. */
export * from './deferred.ts';
export * from './mailing-report.ts';
export * from './messages.ts';
export * from './recipients.ts';
export * from './report-vocabulary.ts';
export * from './time-series.ts';
export * from './unsubscribed.ts';
export * from './xlsx-export.ts';
