// Notes and favourites, on content ids like tags.
import { z } from 'zod';
import { setFavourite, setNote } from '../../shared/edits.js';
import { check, defineCommand } from '../define.js';
import { deviceRef } from '../entry/queries.js';
import { resolveFiles } from '../entry/resolve.js';
import { recordShared } from '../tag/index.js';

export const noteCommand = defineCommand({
  name: 'note.set',
  shared: true,
  summary: 'attach a note to a file (an empty text removes it)',
  input: z.object({ path: z.string().min(1), text: z.string().max(100_000), device: z.string().optional() }),
  preview: ({ core, lib }, input) => {
    const [f] = resolveFiles(lib.db, [input.path], deviceRef(lib.db, input.device, core.device.id), false);
    return {
      summary: input.text ? `set the note of ${f!.path}` : `remove the note of ${f!.path}`,
      changes: [
        { op: input.text ? 'update' : 'delete', target: `note of ${f!.path}`, detail: input.text.slice(0, 60) },
      ],
      data: { cid: f!.cid },
    };
  },
  commit: ({ lib }, plan) => ({
    seq: recordShared(
      lib,
      'note.set',
      { cid: plan.data!.cid },
      setNote(lib.shared, plan.data!.cid, plan.input.text === '' ? null : plan.input.text),
    ),
  }),
  verify: ({ lib }, plan) => {
    const row = lib.db.prepare('SELECT text FROM notes WHERE cid = ?').get(plan.data!.cid) as
      { text: string } | undefined;
    return [check((row?.text ?? '') === plan.input.text, 'the note reads as written')];
  },
});

function favCommand(name: 'fav.add' | 'fav.remove', fav: boolean) {
  return defineCommand({
    name,
    shared: true,
    summary: fav ? 'mark files as favourites' : 'unmark favourites',
    input: z.object({ paths: z.array(z.string().min(1)).min(1), device: z.string().optional() }),
    preview: ({ core, lib }, input) => {
      const files = resolveFiles(lib.db, input.paths, deviceRef(lib.db, input.device, core.device.id), false);
      return {
        summary: `${fav ? 'favourite' : 'unfavourite'} ${files.length} file(s)`,
        changes: files.map((f) => ({ op: fav ? 'fav' : 'unfav', target: f.path })),
        data: { cids: [...new Set(files.map((f) => f.cid))] },
      };
    },
    commit: ({ lib }, plan) => {
      const changes = plan
        .data!.cids.map((cid) => setFavourite(lib.shared, cid, fav))
        .reduce((a, b) => ({ ...a, favs: [...(a.favs ?? []), ...(b.favs ?? [])] }), {});
      return { seq: recordShared(lib, name, { count: plan.data!.cids.length }, changes) };
    },
    verify: ({ lib }, plan) => {
      const q = lib.db.prepare('SELECT 1 FROM favs WHERE cid = ?');
      return [
        check(
          plan.data!.cids.every((c) => !!q.get(c) === fav),
          fav ? 'every file is a favourite' : 'no file is a favourite',
        ),
      ];
    },
  });
}
export const favAdd = favCommand('fav.add', true);
export const favRemove = favCommand('fav.remove', false);
