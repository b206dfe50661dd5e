export type {
  BatchDeleteResult,
  BatchGetResult,
  BatchSetEntry,
  BatchWriteResult,
  FlushOptions,
  FlushResult,
  GetOrLoadResult,
  GetResult,
  KeyFailure,
  Loader,
  Member,
  MembersOptions,
  MembersResult,
  NodeStats,
  SetResult,
} from './client.js';
export { CacheClient } from './client.js';
export { CacheClientError, type CacheErrorCode } from './errors.js';
export type { NearCacheOptions, NearCacheStats } from './near.js';
export type {
  AttemptInfo,
  BackoffOptions,
  CallOptions,
  ClientOptions,
  Consistency,
  GetOrLoadOptions,
  ReadOptions,
  SetOptions,
  TlsOptions,
  WriteOptions,
} from './options.js';
export type { Candidate, MemberStateName } from './routing.js';
export type { Watch, WatchEvent, WatchKind } from './watch.js';
