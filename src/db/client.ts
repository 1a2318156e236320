// One postgres.js pool per process, with drizzle on top of it. Hot paths use the
// tagged-template `sql` directly; simple reads and writes go through drizzle.
import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import * as schema from "./schema.ts";

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;
export type Orm = PostgresJsDatabase<typeof schema>;

export interface Db {
  sql: Sql;
  orm: Orm;
  close(): Promise<void>;
}

// int8 columns (identity ids, counts) come back as numbers: they stay far below 2^53.
const int8 = { to: 20, from: [20], parse: (x: string) => Number(x), serialize: (x: unknown) => String(x) };

export function connect(url: string, opts: { max?: number } = {}): Db {
  const options = { onnotice: () => {}, types: { int8 }, transform: { undefined: null }, connection: { application_name: "hikyaku" } };
  const sql = postgres(url, { ...options, max: opts.max ?? 20 });
  // drizzle rewires its client's date parsers and serializers, so it gets a client of
  // its own and the tagged-template `sql` keeps returning Date objects.
  const ormClient = postgres(url, { ...options, max: 4 });
  const orm = drizzle(ormClient, { schema });
  return {
    sql,
    orm,
    close: async () => {
      await Promise.all([sql.end({ timeout: 5 }), ormClient.end({ timeout: 5 })]);
    },
  };
}
