import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { operations } from './openapi-types.js';

/** Types generated from openapi.yaml (npm run generate:api), so handlers cannot drift from the contract. */
type JsonBody<Op> = Op extends { requestBody: { content: { 'application/json': infer Body } } } ? Body : unknown;
type Query<Op> = Op extends { parameters: { query?: infer Q } } ? ([Q] extends [never] ? unknown : NonNullable<Q>) : unknown;
type Path<Op> = Op extends { parameters: { path?: infer P } } ? ([P] extends [never] ? unknown : NonNullable<P>) : unknown;

export type OperationId = keyof operations;

export type OperationRequest<Id extends OperationId> = FastifyRequest<{
  Body: JsonBody<operations[Id]>;
  Querystring: Query<operations[Id]>;
  Params: Path<operations[Id]>;
}>;

export type OperationHandler<Id extends OperationId> = (request: OperationRequest<Id>, reply: FastifyReply) => Promise<unknown>;

/** A handler, or route options with one, for an operation of openapi.yaml. */
export type OperationRoute<Id extends OperationId> =
  | OperationHandler<Id>
  | (Omit<Partial<RouteOptions>, 'handler'> & { handler: OperationHandler<Id> });

/** Every operation of the contract must have a route; TypeScript checks the set is complete. */
export type OperationRoutes = { [Id in OperationId]: OperationRoute<Id> };

export type { components, operations } from './openapi-types.js';
