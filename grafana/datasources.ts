// The datasources the dashboards query, by the fixed uids that
// grafana/provisioning/datasources/spanflow.yaml gives them.

import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';

export const PROMETHEUS = { type: 'prometheus', uid: 'spanflow-prometheus' } as const satisfies DataSourceRef;
export const JAEGER = { type: 'jaeger', uid: 'spanflow-jaeger' } as const satisfies DataSourceRef;
export const POSTGRES = { type: 'grafana-postgresql-datasource', uid: 'spanflow-postgres' } as const satisfies DataSourceRef;

/** Every datasource a dashboard may name. */
export const DATASOURCES = [PROMETHEUS, JAEGER, POSTGRES] as const;

/** The Postgres schema the stack's store writes (SPANFLOW_SCHEMA in compose/docker-compose.yml). */
export const STACK_SCHEMA = 'spanflow';
