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
  'shared.created': () => 'created the shared metadata documents',
  'shared.changed': (b) => sharedSummary(b),
  'command.verified': (b) =>
    `verify of ${b.command}: ${
      b.ok
        ? 'passed'
        : `FAILED (${b.checks
            .filter((c: { ok: boolean }) => !c.ok)
            .map((c: { what: string }) => c.what)
            .join(', ')})`
    }`,
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

function sharedSummary(b: { op: string; name?: string; count?: number; tag?: string; collection?: string }): string {
  switch (b.op) {
    case 'tag.create':
      return `created tag "${b.name}"`;
    case 'tag.rename':
      return `renamed tag ${String(b.tag).slice(0, 8)} to "${b.name}"`;
    case 'tag.delete':
      return `deleted tag ${String(b.tag).slice(0, 8)}`;
    case 'tag.apply':
      return `tagged ${b.count} content item(s) with ${String(b.tag).slice(0, 8)}`;
    case 'tag.remove':
      return `untagged ${b.count} content item(s) from ${String(b.tag).slice(0, 8)}`;
    case 'collection.create':
      return `created collection "${b.name}"`;
    case 'collection.add':
      return `added ${b.count} item(s) to collection ${String(b.collection).slice(0, 8)}`;
    case 'collection.remove':
      return `removed ${b.count} item(s) from collection ${String(b.collection).slice(0, 8)}`;
    case 'collection.delete':
      return `deleted collection ${String(b.collection).slice(0, 8)}`;
    case 'note.set':
      return 'changed a note';
    case 'fav.add':
      return `favourited ${b.count} item(s)`;
    case 'fav.remove':
      return `unfavourited ${b.count} item(s)`;
    default:
      return `shared metadata: ${b.op}`;
  }
}
