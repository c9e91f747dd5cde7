import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The BM25 index cache shared by these tests (kept between runs so only the first run builds). */
export const TEST_CACHE_DIR = join(tmpdir(), 'ratchet-deepsearch-test-cache');
export const FIXTURES = join(__dirname, '../../fixtures/deepsearch');
