/**
 * The example API's users: what a sign-up may hold ({@link limits}, {@link NewUser}) and the
 * bounded in-memory store.
 */
import { Context, Effect, Layer, Schema } from "effect"

/**
 * What one sign-up may take. The body limit is checked on `Content-Length` before a byte is
 * read; the field limits keep a stored user (and its email) small; the store is bounded so a
 * flood of sign-ups cannot grow memory without end.
 */
export const limits = {
  bodyBytes: 16 * 1024,
  nameLength: 200,
  /** RFC 5321's limit on a forward path. */
  emailLength: 254,
  /** A sign-up is one flat object: nesting beyond this is refused before it is decoded. */
  jsonDepth: 8,
  users: 100_000
} as const

// C0, DEL and C1 controls: no name needs them, and CR/LF in one would be a header line in the email.
// eslint-disable-next-line no-control-regex
export const controlChars = /[\u0000-\u001f\u007f-\u009f]/

export const NewUser = Schema.Struct({
  name: Schema.String.pipe(
    Schema.minLength(1, { message: () => "name must not be empty" }),
    Schema.maxLength(limits.nameLength, { message: () => `name must be at most ${limits.nameLength} characters` }),
    Schema.filter((name) => !controlChars.test(name), { message: () => "name must not contain control characters" })
  ),
  email: Schema.String.pipe(
    Schema.maxLength(limits.emailLength, { message: () => `email must be at most ${limits.emailLength} characters` }),
    Schema.pattern(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, { message: () => "email must look like an address" }),
    // `\s` does not cover C0/C1 controls (U+0085 passes it): refused here, not by the mailer later.
    Schema.filter((email) => !controlChars.test(email), { message: () => "email must not contain control characters" })
  )
})

export interface User {
  readonly id: number
  readonly name: string
  readonly email: string
}

/** The user store is full: the sign-up is refused (507) rather than memory growing without end. */
export class UsersFull extends Schema.TaggedError<UsersFull>()("UsersFull", { capacity: Schema.Number }) {}

/** In-memory user storage. */
export class Users extends Context.Tag("example/Users")<Users, {
  readonly add: (user: typeof NewUser.Type) => Effect.Effect<User, UsersFull>
  /** Takes back a user whose sign-up could not complete. */
  readonly remove: (id: number) => Effect.Effect<void>
  readonly count: Effect.Effect<number>
}>() {}

/** The in-memory store as a Layer, holding at most `capacity` users. */
export const usersLayer = (options: { readonly capacity?: number } = {}) =>
  Layer.sync(
    Users,
    () => {
      const capacity = options.capacity ?? limits.users
      // Mutated in place: copying the map per insert made each sign-up O(n).
      const users = new Map<number, User>()
      let next = 1
      return {
        add: (input) =>
          Effect.suspend(() => {
            if (users.size >= capacity) return Effect.fail(new UsersFull({ capacity }))
            const user: User = { id: next++, ...input }
            users.set(user.id, user)
            return Effect.succeed(user)
          }),
        remove: (id) => Effect.sync(() => void users.delete(id)),
        count: Effect.sync(() => users.size)
      }
    }
  )

/** The in-memory store with the default capacity ({@link limits}). */
export const UsersLive = usersLayer()
