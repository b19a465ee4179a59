import { describe, expect, it } from 'vitest';
import { catalogSeed } from '../infra/legacy-postgres.ts';

describe('the legacy catalog seed', () => {
  it('is the same 1,200 movies on every call, ids 1..1200', () => {
    const seed = catalogSeed();
    expect(seed).toHaveLength(1200);
    expect(new Set(seed.map((m) => m.id)).size).toBe(1200);
    expect(catalogSeed()).toEqual(seed);
  });

  it('holds the well-known films at their ids', () => {
    const byId = new Map(catalogSeed().map((m) => [m.id, m]));
    expect(byId.get(362)).toEqual({ id: 362, title: 'Lethal Weapon', releaseYear: 1987, country: 'US', genres: ['Action', 'Crime'] });
    expect(byId.get(603)?.title).toBe('The Matrix');
  });

  it('gives every movie a title, a plausible year, a country and at least one genre', () => {
    for (const movie of catalogSeed()) {
      expect(movie.title.length).toBeGreaterThan(0);
      expect(movie.releaseYear).toBeGreaterThanOrEqual(1930);
      expect(movie.releaseYear).toBeLessThanOrEqual(2025);
      expect(movie.country).toMatch(/^[A-Z]{2}$/);
      expect(movie.genres.length).toBeGreaterThan(0);
    }
  });
});
