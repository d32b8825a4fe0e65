// The address book is written without an fsync unless it holds an address the user gave: what a
// restarted daemon reads back must be the same either way, private (0600), and a torn or foreign
// file reads as empty rather than failing the start.
import test from 'ava';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AddressBook } from '../../src/sync/address-book.js';
import { tempDir } from '../helpers.js';

const dev = 'a'.repeat(32);

test('learnt and manual addresses read back after a restart, from a private file', (t) => {
  const file = join(tempDir(t), 'peers.json');
  const book = new AddressBook(file);
  book.add({ host: '127.0.0.1', port: 4100, dev, source: 'invite', seen: 1 });
  t.deepEqual(new AddressBook(file).of(dev), [{ host: '127.0.0.1', port: 4100, dev, source: 'invite', seen: 1 }]);
  book.add({ host: '127.0.0.2', port: 4200, dev, source: 'manual' });
  t.deepEqual(
    new AddressBook(file)
      .of(dev)
      .map((e) => `${e.host}:${e.port}:${e.source}`)
      .sort(),
    ['127.0.0.1:4100:invite', '127.0.0.2:4200:manual'],
  );
  t.is(statSync(file).mode & 0o777, 0o600);
});

test('a torn or foreign address book reads as empty', (t) => {
  const file = join(tempDir(t), 'peers.json');
  writeFileSync(file, '[{"host": "127.0.0.1", "po');
  t.deepEqual(new AddressBook(file).list(), []);
  writeFileSync(
    file,
    JSON.stringify([
      { host: 'bad host!', port: 70000 },
      { host: '127.0.0.1', port: 1 },
    ]),
  );
  t.deepEqual(new AddressBook(file).list(), [{ host: '127.0.0.1', port: 1 }]);
});
