import { Type, type Static, type TLiteral, type TSchema, type TUnion } from '@sinclair/typebox'

/** A union of string literals, typed as such. */
export const literals = <T extends readonly string[]>(values: T, options: { description?: string, $id?: string } = {}) =>
  Type.Union(values.map((v) => Type.Literal(v)), options) as unknown as TUnion<Array<TLiteral<T[number]>>>

export const Nullable = <T extends TSchema>(schema: T, description?: string) =>
  Type.Union([schema, Type.Null()], description === undefined ? {} : { description })

/** A reference to a registered schema (by its `$id`), typed as the schema itself. */
export const ref = <T extends TSchema>(schema: T) => Type.Unsafe<Static<T>>(Type.Ref(schema.$id!))

/** Every error the API answers: `{error: {code, message}}`, plus `kind` where Bolt's answer is the cause. */
export const ErrorResponse = Type.Object({
  error: Type.Object({
    code: Type.String({ description: 'Stable machine-readable code, BOLT_STREAM_…' }),
    message: Type.String({ description: 'What went wrong, for people' }),
    kind: Type.Optional(Type.String({ description: "Bolt's error kind (`bolt/unknown-task`, …) or `bolt-stream/…`, when Bolt's answer is the cause" }))
  })
}, { $id: 'ErrorResponse', description: 'An error' })
export type ErrorResponse = Static<typeof ErrorResponse>

/** A route's error answer, by reference to the registered ErrorResponse. */
export const ErrorRef = ref(ErrorResponse)

/** The error answers a route may give. */
export const errorResponses = {
  400: ErrorRef,
  401: ErrorRef,
  403: ErrorRef,
  404: ErrorRef,
  409: ErrorRef,
  415: ErrorRef,
  429: ErrorRef,
  500: ErrorRef,
  503: ErrorRef
}
