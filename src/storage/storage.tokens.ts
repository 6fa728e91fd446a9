import type { Cluster, Redis } from 'ioredis';

/** `'redis' | 'memory'`: the driver the configuration selected. */
export const STORE_KIND = Symbol('STORE_KIND');
export type StoreKind = 'redis' | 'memory';

/** The command connection (a `Redis` or a `Cluster`); only bound when the store is redis. */
export const REDIS = Symbol('REDIS');
export type RedisClient = Redis | Cluster;

/** This process's id, unique among the instances sharing one Redis. */
export const INSTANCE_ID = Symbol('INSTANCE_ID');
