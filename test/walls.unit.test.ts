/**
 * The import walls, read from the source: the runtime names no domain, domains never import each other, nothing
 * under services/ imports the gateway (the slices' plugin interface is the slice kit, services/shared/graphql/),
 * the gateway reaches a domain only through its contract and its GraphQL slice, and decide/evolve stay pure.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DOMAINS } from '../services/domains.ts';

const ROOT = resolve(import.meta.dirname, '..');

function sources(dir: string, { tests = false } = {}): string[] {
  return readdirSync(resolve(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'generated' && dir === '.') return [];
    if (statSync(resolve(ROOT, path)).isDirectory()) return sources(path, { tests });
    return path.endsWith('.ts') && (tests || !path.endsWith('.test.ts')) ? [path] : [];
  });
}

interface Import {
  specifier: string;
  /** Repository-relative path for a relative import; undefined for a package. */
  target?: string;
  typeOnly: boolean;
}

function importsOf(file: string): Import[] {
  const text = readFileSync(resolve(ROOT, file), 'utf8');
  const found: Import[] = [];
  for (const match of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm)) {
    found.push({ specifier: match[3], typeOnly: Boolean(match[2]), target: undefined });
  }
  for (const match of text.matchAll(/^\s*import\s+'([^']+)'/gm)) found.push({ specifier: match[1], typeOnly: false });
  // Dynamic imports by convention (`../services/${domain}/graphql/index.ts`): kept with their placeholder.
  for (const match of text.matchAll(/import\(\s*[`']([^`']+)[`']\s*\)/g)) found.push({ specifier: match[1], typeOnly: false });
  return found.map((i) => ({
    ...i,
    target: i.specifier.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), i.specifier)) : undefined,
  }));
}

const domains = DOMAINS.map((contract) => contract.domain);
const domainOf = (path: string) => /^services\/([^/]+)\//.exec(path)?.[1];
const isDomainPath = (path: string) => {
  const domain = domainOf(path);
  return domain !== undefined && domain !== 'shared' && (domains.includes(domain) || domain === '${domain}');
};

describe('import walls', () => {
  it('has every domain of services/domains.ts as a folder with a contract, a runtime and a GraphQL slice', () => {
    for (const domain of domains) {
      for (const file of ['contract.ts', 'index.ts', 'graphql/index.ts', 'graphql/schema.graphql']) {
        expect(statSync(resolve(ROOT, 'services', domain, file)).isFile(), `services/${domain}/${file}`).toBe(true);
      }
    }
  });

  it('keeps the runtime (services/shared) free of any domain, and of the gateway', () => {
    const offending = sources('services/shared').flatMap((file) =>
      importsOf(file).filter((i) => i.target && (isDomainPath(i.target) || i.target.startsWith('gateway/') || i.target === 'services/domains.ts'))
        .map((i) => `${file} imports ${i.specifier}`));
    expect(offending).toEqual([]);
  });

  it('never lets anything under services/ import the gateway: slices reach it only through the slice kit', () => {
    // Tests included: a domain's test needing the gateway would mean the kit lacks something.
    const files = sources('services', { tests: true });
    expect(files).toContain('services/shared/graphql/index.ts');
    const offending = files.flatMap((file) =>
      importsOf(file).filter((i) => i.target === 'gateway' || i.target?.startsWith('gateway/'))
        .map((i) => `${file} imports ${i.specifier}`));
    expect(offending).toEqual([]);
  });

  it('never lets a domain import another domain', () => {
    const offending = domains.flatMap((domain) =>
      sources(`services/${domain}`).flatMap((file) =>
        importsOf(file).filter((i) => i.target && isDomainPath(i.target) && domainOf(i.target) !== domain)
          .map((i) => `${file} imports ${i.specifier}`)));
    expect(offending).toEqual([]);
  });

  it('lets the gateway reach a domain only through its contract and its GraphQL slice, never its services or projections', () => {
    // Everything the gateway loads, followed through relative imports (type-only imports load nothing).
    const seen = new Set<string>();
    const queue = sources('gateway');
    while (queue.length) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const i of importsOf(file)) {
        if (!i.target || i.typeOnly || !i.target.endsWith('.ts')) continue;
        if (i.target.includes('${domain}')) {
          for (const domain of domains) queue.push(i.target.replace('${domain}', domain));
        } else queue.push(i.target);
      }
    }
    const reached = [...seen].filter(isDomainPath);
    // A contract may bring what reads its foreign topics (e.g. the Debezium decoder); never a service or projection.
    const forbidden = (path: string) => /\/(decide|evolve|handler|seed)\.ts$|\/projections\/|^services\/[^/]+\/index\.ts$/.test(path);
    expect(reached.filter(forbidden)).toEqual([]);
    expect(reached.filter((path) => /\/contract\.ts$/.test(path)).length).toBe(domains.length);
    expect(reached.length).toBeGreaterThan(0);
  });

  it('keeps decide and evolve pure: no Kafka, database, clock or randomness', () => {
    const files = domains.flatMap((domain) => sources(`services/${domain}`)).filter((f) => /\/(decide|evolve)\.ts$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    const offending = files.flatMap((file) => {
      const text = readFileSync(resolve(ROOT, file), 'utf8');
      const problems = importsOf(file)
        .filter((i) => !i.target ? !i.typeOnly || /kafkajs|pg|prisma/.test(i.specifier) : /generated|shared\/(bus|db|service|projector|consumer|process)/.test(i.target))
        .map((i) => `${file} imports ${i.specifier}`);
      for (const impure of ['Date.now(', 'new Date()', 'Math.random(', 'randomUUID(', 'process.env']) {
        if (text.includes(impure)) problems.push(`${file} uses ${impure}`);
      }
      return problems;
    });
    expect(offending).toEqual([]);
  });
});
