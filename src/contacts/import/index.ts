/** The contacts import: what other areas (HTTP routes, CLI) call. The module owns imports and import_errors. */
export { detectCsvFormat, detectImportFormat } from './file-format.ts';
export {
  createImport,
  getImport,
  type ImportErrorCursor,
  listImportErrors,
  listImports,
} from './imports.ts';
export { type ColumnMap, resolveMapping, suggestMapping } from './mapping.ts';
export { type ImportPreview, previewImportFile } from './preview.ts';
export { DEFAULT_BATCH_SIZE, type RunImportInput, runImport } from './run-import.ts';
export * from './types.ts';
