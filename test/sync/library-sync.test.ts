import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3-multiple-ciphers';
import { Repo, type AutomergeUrl, type PeerId } from '@automerge/automerge-repo';
import { LinkNetworkAdapter } from '../../src/sync/network-adapter.js';
import { memoryChannelPair } from '../../src/sync/memory-channel.js';
import { closeLibraryRepo, createLibraryDocs, openLibraryDocs, openLibraryRepo } from '../../src/sync/shared-docs.js';
import { assignTags, tagsOfContent } from '../../src/sync/shared-edits.js';

function device(t: ExecutionContext, peerId: string) {
  const db = new Database(':memory:');
  const net = new LinkNetworkAdapter({ readyTimeoutMs: 500 });
  const repo = openLibraryRepo(db, { peerId, network: [net] });
  t.teardown(async () => {
    await closeLibraryRepo(repo);
    db.close();
  });
  return { repo, net };
}

const until = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('two library repos linked by a SyncChannel share the library documents and their edits', async (t) => {
  const a = device(t, 'dev-a');
  const b = device(t, 'dev-b');
  const [ab, ba] = memoryChannelPair(
    () => 'dev-a',
    () => 'dev-b',
  );
  a.net.addChannel(ab);
  b.net.addChannel(ba);
  t.teardown(() => ab.close());
  const docsA = await createLibraryDocs(a.repo, { name: 'shared' });
  // B has nothing stored: every document comes over the link.
  const docsB = await openLibraryDocs(b.repo, docsA.urls);
  t.is(docsB.doc('root').name, 'shared');
  const content = 'ab' + '0'.repeat(30);
  assignTags(docsA, [{ contentId: content, tagId: 'from-a', assigned: true }]);
  assignTags(docsB, [{ contentId: content, tagId: 'from-b', assigned: true }]);
  await until(() => tagsOfContent(docsA, content).length === 2 && tagsOfContent(docsB, content).length === 2);
  t.deepEqual(tagsOfContent(docsA, content), ['from-a', 'from-b']);
  t.deepEqual(tagsOfContent(docsB, content), ['from-a', 'from-b']);
});

test('a library repo neither offers nor serves a document outside its library', async (t) => {
  const a = device(t, 'dev-a');
  // A plain repo that would share and ask for anything: only A's policy can refuse.
  const bNet = new LinkNetworkAdapter({ readyTimeoutMs: 500 });
  const b = new Repo({ network: [bNet], peerId: 'dev-b' as PeerId });
  t.teardown(() => closeLibraryRepo(b));
  const [ab, ba] = memoryChannelPair(
    () => 'dev-a',
    () => 'dev-b',
  );
  a.net.addChannel(ab);
  bNet.addChannel(ba);
  t.teardown(() => ab.close());
  const lib = await createLibraryDocs(a.repo, { name: 'lib' });
  const secret = a.repo.create({ secret: 'not library metadata' });
  await a.repo.flush([secret.documentId]);
  await t.throwsAsync(b.find(secret.url), { message: /unavailable/ });
  const root = await b.find<{ name: string }>(lib.urls.root as AutomergeUrl);
  t.is(root.doc().name, 'lib', 'the library documents themselves are served');
});
