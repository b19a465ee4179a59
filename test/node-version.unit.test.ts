/**
 * The project runs on Node.js 24 LTS (Node 20's support ended on 2026-04-30), whatever Node runs npm: the `node`
 * package puts Node 24 at node_modules/.bin/node, which npm scripts, tsx and every process they spawn
 * (`process.execPath`) then use. The image, `engines` and CI say the same.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const major = (version: string) => Number(/^v?(\d+)\./.exec(version)?.[1]);

describe('Node.js 24', () => {
  it('runs this suite, and what npm scripts start', () => {
    expect(major(process.version)).toBe(24);
    const script = spawnSync('npm', ['exec', '--', 'tsx', '-e', 'console.log(process.version, process.execPath)'], { cwd: root, encoding: 'utf8' });
    expect(script.status, script.stderr).toBe(0);
    const [version, binary] = script.stdout.trim().split(' ');
    expect(major(version)).toBe(24);
    expect(binary).toBe(resolve(root, 'node_modules/node/bin/node'));
  });

  it('is what engines, the image and the package say', () => {
    const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8'));
    expect(pkg.engines.node).toBe('>=24');
    expect(pkg.devDependencies.node).toMatch(/^\^24\./);
    expect(readFileSync(resolve(root, 'Dockerfile'), 'utf8')).toMatch(/^FROM node:24-/m);
  });
});
