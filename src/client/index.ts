export { CacheClient } from './client.js';
export type { GetResult, SetResult, Member, MembersResult, MembersOptions, NodeStats } from './client.js';
export { CacheClientError, type CacheErrorCode } from './errors.js';
export type { ClientOptions, CallOptions, ReadOptions, WriteOptions, SetOptions, Consistency, BackoffOptions, AttemptInfo } from './options.js';
export type { Candidate, MemberStateName } from './routing.js';
