// automerge-repo's own storage acceptance suite against SqliteStorageAdapter, one temp db per test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { describe, expect, it } from 'vitest';
import { runStorageAdapterTests } from '@automerge/automerge-repo/helpers/tests/storage-adapter-tests.js';
import { SqliteStorageAdapter, decodeKey, encodeKey } from '../../src/shared/storage-adapter.js';

function freshDb(): { db: Database.Database; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'sd-am-store-'));
  const db = new Database(join(dir, 'library.db'));
  return {
    db,
    cleanup: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

runStorageAdapterTests(async () => {
  const { db, cleanup } = freshDb();
  return { adapter: new SqliteStorageAdapter(db), teardown: cleanup };
}, 'SqliteStorageAdapter');

describe('SqliteStorageAdapter key encoding', () => {
  it('round-trips components containing the separator and the escape character', () => {
    const key = ['a/b', '%2F', '', 'x%y/'];
    expect(decodeKey(encodeKey(key))).toStrictEqual(key);
  });

  it('keeps prefixes exact when components contain separators or sort-adjacent characters', async () => {
    const { db, cleanup } = freshDb();
    try {
      const a = new SqliteStorageAdapter(db);
      const one = new Uint8Array([1]);
      await a.save(['doc', 'x'], one);
      await a.save(['doc/x'], new Uint8Array([2])); // would collide with ['doc','x'] under a naive join
      await a.save(['doc.', 'y'], new Uint8Array([3])); // '.' sorts just before '/'
      await a.save(['doc0', 'z'], new Uint8Array([4])); // '0' sorts just after '/'
      await a.save(['docx'], new Uint8Array([5]));
      expect(await a.loadRange(['doc'])).toStrictEqual([{ key: ['doc', 'x'], data: one }]);
      expect(await a.load(['doc/x'])).toStrictEqual(new Uint8Array([2]));
      await a.removeRange(['doc']);
      expect((await a.loadRange([])).map((c) => c.key)).toStrictEqual([
        ['doc/x'],
        ['doc.', 'y'],
        ['doc0', 'z'],
        ['docx'],
      ]);
    } finally {
      cleanup();
    }
  });

  it('answers range queries from the primary-key index, not a table scan', () => {
    const { db, cleanup } = freshDb();
    try {
      new SqliteStorageAdapter(db);
      const plan = db
        .prepare('EXPLAIN QUERY PLAN SELECT key, data FROM automerge_store WHERE key = ? OR (key >= ? AND key < ?)')
        .all('a', 'a/', 'a0') as { detail: string }[];
      const details = plan.map((p) => p.detail).join('\n');
      expect(details).toMatch(/USING INDEX|USING PRIMARY KEY|MULTI-INDEX/);
      expect(details).not.toMatch(/^SCAN automerge_store$/m);
    } finally {
      cleanup();
    }
  });
});
