export type { GetResult, Member, MembersOptions, MembersResult, NodeStats, SetResult } from './client.js';
export { CacheClient } from './client.js';
export { CacheClientError, type CacheErrorCode } from './errors.js';
export type {
  AttemptInfo,
  BackoffOptions,
  CallOptions,
  ClientOptions,
  Consistency,
  ReadOptions,
  SetOptions,
  WriteOptions,
} from './options.js';
export type { Candidate, MemberStateName } from './routing.js';
