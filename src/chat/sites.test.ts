import { describe, expect, it } from 'vitest';
import { embedSnippet, generateSiteKey, normalizeOrigin, originAllowed } from './sites.ts';

describe('sites', () => {
  it('normalises allowed origins and refuses paths and other schemes', () => {
    expect(normalizeOrigin(' https://Shop.Example/ ')).toBe('https://shop.example');
    expect(normalizeOrigin('http://localhost:3000')).toBe('http://localhost:3000');
    expect(normalizeOrigin('https://*.example.com')).toBe('https://*.example.com');
    for (const bad of [
      'shop.example',
      'https://shop.example/page',
      'ftp://shop.example',
      'javascript:alert(1)',
    ])
      expect(() => normalizeOrigin(bad), bad).toThrow(/origin/);
  });

  it('checks a browser origin against the rules (none: any; no Origin header: not a browser)', () => {
    const rules = ['https://shop.example', 'https://*.example.com'];
    expect(originAllowed([], 'https://anything.test')).toBe(true);
    expect(originAllowed(rules, undefined)).toBe(true);
    expect(originAllowed(rules, 'https://shop.example')).toBe(true);
    expect(originAllowed(rules, 'https://a.example.com')).toBe(true);
    expect(originAllowed(rules, 'https://example.com.evil.test')).toBe(false);
    expect(originAllowed(rules, 'http://shop.example')).toBe(false);
    expect(originAllowed(rules, 'https://evilexample.com')).toBe(false);
  });

  it('makes one script tag with the public key', () => {
    const key = generateSiteKey();
    expect(key).toMatch(/^st_[A-Za-z0-9_-]{24}$/);
    expect(embedSnippet(key, 'https://chat.example.com/')).toBe(
      `<script async src="https://chat.example.com/widget/v1/widget.js" data-omnitalk-site="${key}"></script>`,
    );
  });
});
