import type { Endpoint } from './endpoint.ts';
import { header, readText } from './http-transport.ts';
import { type RegistryContext, RegistryError, describeContext } from './registry-error.ts';
import type { Requester } from './registry-request.ts';
import { repositoryScope } from './scope.ts';

const MAX_PAGES = 1000;

/**
 * GET /v2/<repo>/tags/list, following `Link: <…>; rel="next"` pages. A
 * registry answers `"tags": null` for a repository whose tags were all
 * deleted: that is an empty list.
 */
export async function listTagsFrom(requester: Requester, ep: Endpoint, repo: RegistryContext & { repository: string }, signal?: AbortSignal): Promise<string[]> {
  const tags: string[] = [];
  let next: string | URL | undefined = `/v2/${repo.repository}/tags/list`;
  for (let page = 0; next !== undefined && page < MAX_PAGES; page++) {
    const target: string | URL = next;
    const { res, text } = await requester.retrying(repo, signal, async () => {
      const answer = await requester.send(ep, {
        method: 'GET', target, scopes: [repositoryScope(repo.repository, ['pull'])], ctx: repo, notFound: 'NAME_UNKNOWN', action: 'tag list of', ok: (s) => s === 200, retry: false, signal,
      });
      return { res: answer, text: await readText(answer, repo, 16 << 20) };
    });
    let doc: { tags?: unknown };
    try {
      doc = JSON.parse(text) as typeof doc;
    } catch {
      throw new RegistryError('REGISTRY_PROTOCOL', `tag list of ${describeContext(repo)}: the answer is not JSON`, { ...repo });
    }
    if (Array.isArray(doc.tags)) tags.push(...doc.tags.filter((t): t is string => typeof t === 'string'));
    const link = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(header(res, 'link') ?? '');
    next = link?.[1] !== undefined ? new URL(link[1], res.url) : undefined;
  }
  return tags;
}
