import test from 'ava';
import { kindOf, type Kind } from '../../src/jobs/kind.js';

const b = (...xs: Array<number | string>): Uint8Array =>
  Uint8Array.from(xs.flatMap((x) => (typeof x === 'string' ? Array.from(x, (c) => c.charCodeAt(0)) : [x])));

const table: Array<[string, Uint8Array | undefined, Kind]> = [
  ['photo.png', b(0x89, 'PNG', 0x0d, 0x0a, 0x1a, 0x0a), 'image'],
  ['photo.JPG', undefined, 'image'],
  ['notes.txt', b(0xff, 0xd8, 0xff, 0xe0), 'image'], // magic beats a misleading extension
  ['anim.gif', b('GIF89a'), 'image'],
  ['paper.bin', b('%PDF-1.7'), 'document'],
  ['archive.dat', b('PK', 3, 4, 0, 0), 'archive'],
  ['report.docx', b('PK', 3, 4, 0, 0), 'document'], // office files are zips
  ['x.gz', b(0x1f, 0x8b, 8), 'archive'],
  ['clip.mov', b(0, 0, 0, 0x20, 'ftypqt  '), 'video'],
  ['noext', b(0, 0, 0, 0x20, 'ftypisom'), 'video'],
  ['song.m4a', b(0, 0, 0, 0x20, 'ftypM4A '), 'audio'],
  ['sound', b('RIFF', 0, 0, 0, 0, 'WAVE'), 'audio'],
  ['pic', b('RIFF', 0, 0, 0, 0, 'WEBP'), 'image'],
  ['tagged', b('ID3', 4, 0), 'audio'],
  ['frames', b(0xff, 0xfb, 0x90, 0x00), 'audio'],
  ['voice.ogg', b('OggS', 0), 'audio'],
  ['film.ogv', b('OggS', 0), 'video'],
  ['a.out', b(0x7f, 'ELF', 2, 1), 'other'],
  ['main.ts', b('import x'), 'code'],
  ['lib.rs', undefined, 'code'],
  ['Makefile', undefined, 'code'],
  ['README', undefined, 'text'],
  ['.bashrc', b('export A=1\n'), 'text'], // leading dot is not an extension; content is text
  ['data.csv', b('a,b\n1,2\n'), 'text'],
  ['unknown.xyz', b(0, 1, 2, 3, 0, 0), 'other'],
  ['unknown.xyz', b('hello world\n'), 'text'],
  ['empty.weird', new Uint8Array(0), 'other'],
  ['song.mp3', undefined, 'audio'],
  ['movie.mkv', b(0x1a, 0x45, 0xdf, 0xa3), 'video'],
];

for (const [name, head, kind] of table) {
  test(`kindOf(${JSON.stringify(name)}, ${head ? Buffer.from(head).toString('hex').slice(0, 16) : '-'}) is ${kind}`, (t) => {
    t.is(kindOf(name, head), kind);
  });
}
