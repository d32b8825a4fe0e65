// One-line, human summaries of events for `sd log` and `sd events`.
type Summarizer = (body: any) => string;

const summaries: Record<string, Summarizer> = {
  'library.created': (b) => `created library "${b.name}"`,
  'library.renamed': (b) => `renamed library to "${b.name}"`,
  'device.renamed': (b) => `renamed this device to "${b.name}"`,
  'device.added': (b) => `added device "${b.name}" (${String(b.dev).slice(0, 8)})`,
  'device.revoked': (b) => `revoked device ${String(b.dev).slice(0, 8)}`,
  'location.added': (b) => `added location "${b.name}" at ${b.path}`,
  'location.removed': (b) => `removed location ${String(b.id).slice(0, 8)} from the index`,
  'location.indexed': (b) => `indexed location ${String(b.id).slice(0, 8)}: ${b.files} files, ${b.dirs} folders`,
  'entries.upserted': (b) => `indexed ${b.e.length} new or changed entries`,
  'entries.deleted': (b) => `removed ${b.keys.length} entries that are gone`,
  'entries.moved': (b) => `detected ${b.moves.length} moved or renamed entries`,
  'entries.identified': (b) => `identified the content of ${b.ids.length} files`,
  'entries.aggregated': (b) => `updated sizes of ${b.dirs.length} folders`,
  'command.verified': (b) => `verify of ${b.command}: ${b.ok ? 'passed' : `FAILED (${b.checks.filter((c: { ok: boolean }) => !c.ok).map((c: { what: string }) => c.what).join(', ')})`}`,
};

export function registerSummary(type: string, fn: Summarizer): void {
  summaries[type] = fn;
}

export function summarize(type: string, body: unknown): string {
  const fn = summaries[type];
  if (!fn) return type;
  try {
    return fn(body);
  } catch {
    return type;
  }
}
