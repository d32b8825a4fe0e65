// Library commands: create, rename, use, delete.
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { SdError } from '../../errors.js';
import { check, defineCommand } from '../define.js';
import { Name } from '../names.js';

export const createLibrary = defineCommand({
  name: 'library.create',
  summary: 'create a library',
  input: z.object({ name: Name }),
  preview: ({ core }, { name }) => {
    if (core.libraries.findByName(name)) throw new SdError('E_LIBRARY_EXISTS', `a library named "${name}" already exists`);
    return { summary: `create library "${name}"`, changes: [{ op: 'create', target: `library "${name}"` }] };
  },
  commit: async ({ core }, plan) => {
    const lib = await core.libraries.create(plan.input.name);
    return { id: lib.id, name: lib.name };
  },
  verify: ({ core }, plan, result) => {
    const lib = core.libraries.list().find((l) => l.id === result.id);
    return [check(!!lib && existsSync(lib.path), 'library database exists'), check(lib?.name === plan.input.name, 'library has the requested name')];
  },
});

export const renameLibrary = defineCommand({
  name: 'library.rename',
  summary: 'rename a library',
  input: z.object({ name: Name }),
  preview: ({ core, lib }, { name }) => {
    const clash = core.libraries.findByName(name);
    if (clash && clash.id !== lib.id) throw new SdError('E_LIBRARY_EXISTS', `a library named "${name}" already exists`);
    return { summary: `rename library "${lib.name}" to "${name}"`, changes: [{ op: 'update', target: `library ${lib.id}`, detail: `name "${lib.name}" -> "${name}"` }] };
  },
  commit: ({ lib }, plan) => lib.write(() => lib.append('library.renamed', { name: plan.input.name })).seq,
  verify: ({ lib }, plan) => [check(lib.name === plan.input.name, 'library has the new name')],
});

export const useLibrary = defineCommand({
  name: 'library.use',
  summary: 'make a library the current one',
  input: z.object({ ref: z.string().min(1) }),
  preview: ({ core }, { ref }) => {
    const target = core.libraries.resolve(ref);
    return { summary: `make "${target.name}" the current library`, changes: [{ op: 'update', target: 'current library', detail: `-> ${target.name} (${target.id})` }], data: { id: target.id } };
  },
  commit: ({ core }, plan) => {
    core.libraries.setCurrent(plan.data!.id);
    return { id: plan.data!.id };
  },
  verify: ({ core }, plan) => [check(core.libraries.currentId === plan.data!.id, 'current library changed')],
});

export const deleteLibrary = defineCommand({
  name: 'library.delete',
  summary: 'delete a library and its index (never the indexed files)',
  input: z.object({ ref: z.string().min(1) }),
  preview: ({ core }, { ref }) => {
    const target = core.libraries.resolve(ref);
    if (core.libraries.list().length === 1) throw new SdError('E_LAST_LIBRARY', 'this is the only library; create another one before deleting it');
    const events = target.log.count();
    return {
      summary: `delete library "${target.name}" (${events} events)`,
      changes: [{ op: 'delete', target: `library "${target.name}" (${target.id})`, detail: `${events} events and every projection; files on disk are not touched` }],
      confirm: `Delete library "${target.name}" and its ${events} events?`,
      data: { id: target.id, path: target.path },
    };
  },
  commit: async ({ core }, plan) => {
    await core.libraries.remove(plan.data!.id);
    return { id: plan.data!.id };
  },
  verify: ({ core }, plan) => [
    check(!existsSync(plan.data!.path), 'library database removed'),
    check(!core.libraries.list().some((l) => l.id === plan.data!.id), 'library no longer listed'),
  ],
});
