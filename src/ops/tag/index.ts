// Tags: shared metadata in Automerge, attached to content ids, so a tag follows its content
// through moves and renames and every copy of the content carries it.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { SdError } from '../../errors.js';
import { assignTags, putTag } from '../../sync/shared-edits.js';
import { ASSIGN_SHARDS } from '../../sync/shared-schema.js';
import type { ChangeSet } from '../../sync/shared-docs.js';
import type { Db, Library } from '../../library/library.js';
import { check, defineCommand, defineQuery } from '../define.js';
import { Name } from '../names.js';
import { deviceRef } from '../entry/queries.js';
import { resolveFiles } from '../entry/resolve.js';

const Color = z.string().regex(/^#[0-9a-fA-F]{6}$/, 'a colour is #RRGGBB');

export function findTag(db: Db, ref: string): { id: string; name: string } {
  const rows = db.prepare('SELECT id, name FROM tags WHERE name = ? OR id = ? ORDER BY id').all(ref, ref) as {
    id: string;
    name: string;
  }[];
  if (rows.length === 1) return rows[0]!;
  if (rows.length > 1)
    throw new SdError(
      'E_AMBIGUOUS_TAG',
      `${rows.length} tags are named "${ref}"; use the id (${rows.map((r) => r.id.slice(0, 8)).join(', ')})`,
    );
  throw new SdError('E_TAG_NOT_FOUND', `no tag "${ref}" (see \`sd tag list\`)`);
}

/** Appends the event that carries a shared change; an empty change appends nothing. */
export function recordShared(
  lib: Library,
  op: string,
  info: Record<string, unknown>,
  changes: ChangeSet,
): number | null {
  if (Object.keys(changes).length === 0) return null;
  return lib.write(() => lib.append('shared.changed', { op, ...info, changes })).seq;
}

export const createTag = defineCommand({
  name: 'tag.create',
  shared: true,
  summary: 'create a tag',
  input: z.object({ name: Name, color: Color.optional(), parent: z.string().optional() }),
  preview: ({ lib }, { name, color, parent }) => {
    if (lib.db.prepare('SELECT 1 FROM tags WHERE name = ?').get(name))
      throw new SdError('E_TAG_EXISTS', `a tag named "${name}" already exists`);
    const p = parent ? findTag(lib.db, parent) : undefined;
    return {
      summary: `create tag "${name}"`,
      changes: [
        {
          op: 'create',
          target: `tag "${name}"`,
          detail: [color, p && `under "${p.name}"`].filter(Boolean).join(' ') || undefined,
        },
      ],
      data: { parent: p?.id ?? null },
    };
  },
  commit: ({ lib }, plan) => {
    const id = randomUUID();
    recordShared(
      lib,
      'tag.create',
      { tag: id, name: plan.input.name },
      putTag(lib.shared, id, {
        name: plan.input.name,
        color: plan.input.color?.toLowerCase() ?? null,
        parent: plan.data!.parent,
      }),
    );
    return { id };
  },
  verify: ({ lib }, plan, r) => [
    check(
      (lib.db.prepare('SELECT name FROM tags WHERE id = ?').get(r.id) as { name: string } | undefined)?.name ===
        plan.input.name,
      'tag is queryable',
    ),
  ],
});

export const renameTag = defineCommand({
  name: 'tag.rename',
  shared: true,
  summary: 'rename a tag',
  input: z.object({ tag: z.string().min(1), name: Name }),
  preview: ({ lib }, { tag, name }) => {
    const t = findTag(lib.db, tag);
    const clash = lib.db.prepare('SELECT id FROM tags WHERE name = ? AND id <> ?').get(name, t.id);
    if (clash) throw new SdError('E_TAG_EXISTS', `a tag named "${name}" already exists`);
    return {
      summary: `rename tag "${t.name}" to "${name}"`,
      changes: [{ op: 'update', target: `tag ${t.id.slice(0, 8)}`, detail: `"${t.name}" -> "${name}"` }],
      data: { id: t.id },
    };
  },
  commit: ({ lib }, plan) => ({
    seq: recordShared(
      lib,
      'tag.rename',
      { tag: plan.data!.id, name: plan.input.name },
      putTag(lib.shared, plan.data!.id, { name: plan.input.name }),
    ),
  }),
  verify: ({ lib }, plan) => [
    check(
      (lib.db.prepare('SELECT name FROM tags WHERE id = ?').get(plan.data!.id) as { name: string } | undefined)
        ?.name === plan.input.name,
      'tag has the new name',
    ),
  ],
});

export const deleteTag = defineCommand({
  name: 'tag.delete',
  shared: true,
  summary: 'delete a tag and remove it from every file',
  input: z.object({ tag: z.string().min(1) }),
  preview: ({ lib }, { tag }) => {
    const t = findTag(lib.db, tag);
    const n = (lib.db.prepare('SELECT COUNT(*) AS n FROM tag_assign WHERE tag = ?').get(t.id) as { n: number }).n;
    return {
      summary: `delete tag "${t.name}"`,
      changes: [{ op: 'delete', target: `tag "${t.name}"`, detail: `removed from ${n} content item(s)` }],
      confirm: n > 0 ? `Delete tag "${t.name}" used on ${n} item(s)?` : undefined,
      data: { id: t.id },
    };
  },
  commit: ({ lib }, plan) => {
    const id = plan.data!.id;
    const cids = (lib.db.prepare('SELECT cid FROM tag_assign WHERE tag = ?').all(id) as { cid: string }[]).map(
      (r) => r.cid,
    );
    const changes: ChangeSet = {
      ...assignTags(
        lib.shared,
        cids.map((contentId) => ({ contentId, tagId: id, assigned: false })),
      ),
      ...lib.shared.change('tags', (d) => void delete d.tags[id]),
    };
    recordShared(lib, 'tag.delete', { tag: id }, changes);
    return { id };
  },
  verify: ({ lib }, plan) => [
    check(!lib.db.prepare('SELECT 1 FROM tags WHERE id = ?').get(plan.data!.id), 'tag is gone'),
    check(!lib.db.prepare('SELECT 1 FROM tag_assign WHERE tag = ?').get(plan.data!.id), 'no file carries it'),
  ],
});

function tagApply(name: 'tag.apply' | 'tag.remove', assigned: boolean) {
  return defineCommand({
    name,
    shared: true,
    summary: assigned ? 'tag files (their content)' : 'remove a tag from files',
    input: z.object({
      tag: z.string().min(1),
      paths: z.array(z.string().min(1)).min(1),
      recursive: z.boolean().default(false),
      device: z.string().optional(),
    }),
    preview: ({ core, lib }, input) => {
      const t = findTag(lib.db, input.tag);
      const files = resolveFiles(lib.db, input.paths, deviceRef(lib.db, input.device, core.device.id), input.recursive);
      const cids = [...new Set(files.map((f) => f.cid))];
      const have = new Set(
        (lib.db.prepare('SELECT cid FROM tag_assign WHERE tag = ?').all(t.id) as { cid: string }[]).map((r) => r.cid),
      );
      const todo = cids.filter((c) => have.has(c) !== assigned);
      return {
        summary: `${assigned ? 'tag' : 'untag'} ${files.length} file(s) ${assigned ? 'with' : 'from'} "${t.name}" (${todo.length} content item(s) change)`,
        changes: files.slice(0, 50).map((f) => ({ op: assigned ? 'tag' : 'untag', target: f.path, detail: t.name })),
        warnings: files.length > 50 ? [`and ${files.length - 50} more files`] : [],
        data: { id: t.id, cids: todo, files: files.length },
      };
    },
    commit: ({ lib }, plan) => {
      const d = plan.data!;
      const seq = recordShared(
        lib,
        name,
        { tag: d.id, count: d.cids.length },
        assignTags(
          lib.shared,
          d.cids.map((contentId) => ({ contentId, tagId: d.id, assigned })),
        ),
      );
      return { seq, changed: d.cids.length, files: d.files };
    },
    verify: ({ lib }, plan) => {
      const q = lib.db.prepare('SELECT 1 FROM tag_assign WHERE cid = ? AND tag = ?');
      const wrong = plan.data!.cids.filter((c) => !!q.get(c, plan.data!.id) !== assigned);
      return [
        check(
          wrong.length === 0,
          assigned ? 'every file carries the tag' : 'no file carries the tag',
          wrong.length ? `${wrong.length} content item(s) differ` : undefined,
        ),
      ];
    },
  });
}
export const applyTag = tagApply('tag.apply', true);
export const removeTag = tagApply('tag.remove', false);

export const listTags = defineQuery({
  name: 'tag.list',
  summary: 'tags with how many content items and files carry them',
  input: z.object({}),
  run: ({ db }) =>
    db
      .prepare(
        `SELECT t.id, t.name, t.color, p.name AS parent, (SELECT COUNT(*) FROM tag_assign a WHERE a.tag = t.id) AS items,
         (SELECT COUNT(*) FROM tag_assign a JOIN entries e ON e.cid = a.cid WHERE a.tag = t.id) AS files
         FROM tags t LEFT JOIN tags p ON p.id = t.parent ORDER BY t.name, t.id`,
      )
      .all(),
});

export const tagShards = ASSIGN_SHARDS.length;
