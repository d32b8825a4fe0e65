// Tags: shared metadata in Automerge, attached to content ids, so a tag follows its content
// through moves and renames and every copy of the content carries it. Tags of one name are one
// tag to these commands (see named.ts).
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { SdError } from '../../errors.js';
import { assignTags, putTag } from '../../shared/edits.js';
import type { ChangeSet } from '../../shared/docs.js';
import type { TagsDoc } from '../../shared/schema.js';
import type { Library } from '../../library/library.js';
import { check, defineCommand } from '../define.js';
import { Name } from '../names.js';
import { deviceRef } from '../entry/queries.js';
import { resolveFiles } from '../entry/resolve.js';
import { contentOf, idsNamed, marks, others, resolveNamed } from './named.js';

export { listTags } from './queries.js';

const Color = z.string().regex(/^#[0-9a-fA-F]{6}$/, 'a colour is #RRGGBB');

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
    if (idsNamed(lib.db, 'tag', name).length) throw new SdError('E_TAG_EXISTS', `a tag named "${name}" already exists`);
    const p = parent ? resolveNamed(lib.db, 'tag', parent) : undefined;
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
  summary: 'rename a tag (onto the name of another tag: merge them)',
  input: z.object({ tag: z.string().min(1), name: Name }),
  preview: ({ lib }, { tag, name }) => {
    const g = resolveNamed(lib.db, 'tag', tag);
    const into = idsNamed(lib.db, 'tag', name).filter((id) => !g.ids.includes(id));
    const merge = into.length > 0;
    const items = merge ? contentOf(lib.db, 'tag', into).size : 0;
    return {
      summary: merge
        ? `rename tag "${g.name}" to "${name}", merging it with the tag "${name}" (${items} content item(s))`
        : `rename tag "${g.name}" to "${name}"`,
      changes: g.ids.map((id) => ({
        op: 'update',
        target: `tag ${id.slice(0, 8)}`,
        detail: `"${g.name}" -> "${name}"`,
      })),
      warnings: merge ? [`tags of one name are one tag: "${g.name}" and "${name}" become one`] : [],
      confirm: merge ? `Merge tag "${g.name}" into "${name}"?` : undefined,
      data: { ids: g.ids, also: others(g) },
    };
  },
  commit: ({ lib }, plan) => {
    const { ids, also } = plan.data!;
    const changes = lib.shared.change('tags', (d: TagsDoc) => {
      for (const id of ids) {
        const t = d.tags[id];
        if (!t) throw new SdError('E_TAG_NOT_FOUND', 'the tag was deleted meanwhile');
        if (t.name !== plan.input.name) t.name = plan.input.name;
      }
    });
    return { seq: recordShared(lib, 'tag.rename', { tag: ids[0]!, name: plan.input.name, also }, changes) };
  },
  verify: ({ lib }, plan) => {
    const q = lib.db.prepare('SELECT name FROM tags WHERE id = ?');
    return [
      check(
        plan.data!.ids.every((id) => (q.get(id) as { name: string } | undefined)?.name === plan.input.name),
        'tag has the new name',
      ),
    ];
  },
});

export const deleteTag = defineCommand({
  name: 'tag.delete',
  shared: true,
  summary: 'delete a tag and remove it from every file',
  input: z.object({ tag: z.string().min(1) }),
  preview: ({ lib }, { tag }) => {
    const g = resolveNamed(lib.db, 'tag', tag);
    const n = contentOf(lib.db, 'tag', g.ids).size;
    return {
      summary: `delete tag "${g.name}"`,
      changes: [
        {
          op: 'delete',
          target: `tag "${g.name}"`,
          detail: `removed from ${n} content item(s)${g.ids.length > 1 ? ` (${g.ids.length} tags of this name)` : ''}`,
        },
      ],
      confirm: n > 0 ? `Delete tag "${g.name}" used on ${n} item(s)?` : undefined,
      data: { ids: g.ids, also: others(g) },
    };
  },
  commit: ({ lib }, plan) => {
    const { ids, also } = plan.data!;
    const pairs = lib.db.prepare(`SELECT cid, tag FROM tag_assign WHERE tag IN (${marks(ids.length)})`).all(...ids) as {
      cid: string;
      tag: string;
    }[];
    const changes: ChangeSet = {
      ...assignTags(
        lib.shared,
        pairs.map((p) => ({ contentId: p.cid, tagId: p.tag, assigned: false })),
      ),
      ...lib.shared.change('tags', (d: TagsDoc) => {
        for (const id of ids) delete d.tags[id];
      }),
    };
    recordShared(lib, 'tag.delete', { tag: ids[0]!, also }, changes);
    return { ids };
  },
  verify: ({ lib }, plan) => {
    const ids = plan.data!.ids;
    return [
      check(!lib.db.prepare(`SELECT 1 FROM tags WHERE id IN (${marks(ids.length)})`).get(...ids), 'tag is gone'),
      check(contentOf(lib.db, 'tag', ids).size === 0, 'no file carries it'),
    ];
  },
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
      const g = resolveNamed(lib.db, 'tag', input.tag);
      const files = resolveFiles(lib.db, input.paths, deviceRef(lib.db, input.device, core.device.id), input.recursive);
      const cids = [...new Set(files.map((f) => f.cid))];
      // A file carries the tag when it carries any tag of the name; applying adds the canonical one.
      const have = contentOf(lib.db, 'tag', g.ids);
      const todo = cids.filter((c) => have.has(c) !== assigned);
      return {
        summary: `${assigned ? 'tag' : 'untag'} ${files.length} file(s) ${assigned ? 'with' : 'from'} "${g.name}" (${todo.length} content item(s) change)`,
        changes: files.slice(0, 50).map((f) => ({ op: assigned ? 'tag' : 'untag', target: f.path, detail: g.name })),
        warnings: files.length > 50 ? [`and ${files.length - 50} more files`] : [],
        data: { id: g.id, ids: g.ids, cids: todo, files: files.length },
      };
    },
    commit: ({ lib }, plan) => {
      const d = plan.data!;
      // Removing takes off every tag of the name that each file carries.
      const todo = new Set(d.cids);
      const edits = assigned
        ? d.cids.map((contentId) => ({ contentId, tagId: d.id, assigned }))
        : (
            lib.db.prepare(`SELECT cid, tag FROM tag_assign WHERE tag IN (${marks(d.ids.length)})`).all(...d.ids) as {
              cid: string;
              tag: string;
            }[]
          )
            .filter((p) => todo.has(p.cid))
            .map((p) => ({ contentId: p.cid, tagId: p.tag, assigned }));
      const seq = recordShared(lib, name, { tag: d.id, count: d.cids.length }, assignTags(lib.shared, edits));
      return { seq, changed: d.cids.length, files: d.files };
    },
    verify: ({ lib }, plan) => {
      const have = contentOf(lib.db, 'tag', plan.data!.ids);
      const wrong = plan.data!.cids.filter((c) => have.has(c) !== assigned);
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
