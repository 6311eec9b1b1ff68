// A query for Grafana's PostgreSQL datasource (grafana-postgresql-datasource).
// The foundation SDK ships no builder for it, so this is one of its custom
// query types (cog's Dataquery variant): raw SQL in code mode.

import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog';
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';
import { POSTGRES } from './datasources.ts';
import { interpolate } from './panels.ts';

export type SqlFormat = 'table' | 'time_series';

export interface SqlQuery {
  refId?: string;
  hide?: boolean;
  datasource?: DataSourceRef;
  editorMode: 'code';
  format: SqlFormat;
  rawQuery: true;
  rawSql: string;
  _implementsDataqueryVariant(): void;
}

export class SqlQueryBuilder implements Builder<Dataquery> {
  readonly #query: SqlQuery;

  constructor(rawSql: string, format: SqlFormat = 'table') {
    this.#query = {
      datasource: { ...POSTGRES },
      editorMode: 'code',
      format,
      rawQuery: true,
      rawSql: rawSql.trim(),
      _implementsDataqueryVariant() {},
    };
  }

  refId(refId: string): this {
    this.#query.refId = refId;
    return this;
  }

  build(): SqlQuery {
    return this.#query;
  }
}

/** The dashboard's `schema` constant: the store's Postgres schema, named in every query as `${schema}`. */
export const SCHEMA = interpolate('schema');
