/** The corpus helpers live in the public test kit (tapline/testing); the suite also needs the repository root. */
import { repoRootOrUndefined } from '../core/testing/corpus';

export { corpusDir, corpusPath, describeCorpus, haveCorpus, readManifest, type ManifestRow } from '../core/testing/corpus';

if (repoRootOrUndefined === undefined) throw new Error(`cannot find the Tapline repository root above ${__dirname}`);
export const repoRoot: string = repoRootOrUndefined;
