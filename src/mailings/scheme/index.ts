/**
 * Cascade schemes (SPEC CS): vocabulary, model, validation, standard templates and the decision rule.
 * Pure: no database, no I/O, no clock — shared by the server, the engine and the editor.
 */
export * from './content.ts';
export * from './decide.ts';
export * from './labels-ru.ts';
export * from './model.ts';
export * from './response-words.ts';
export * from './service-template.ts';
export * from './templates.ts';
export * from './validate.ts';
export * from './validation-codes.ts';
export * from './vocabulary.ts';
