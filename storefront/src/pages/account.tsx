/** Log in and register. After either, the guest cart is merged into the saved one (POST /v1/cart/merge). */
import { useState } from 'preact/hooks';
import { api, messageOf, session } from '../api';
import { mergeGuestCart } from '../cart';
import { useTitle } from '../hooks';
import { location, navigate, safeNext } from '../router';
import { useStore } from '../store';
import { Alert, Field, fieldErrorsOf, type FieldErrors } from '../ui';
import type { Role } from '../types';

interface LoginAnswer { token: string; userId: string; role: Role }

async function logIn(email: string, password: string): Promise<void> {
  const answer = await api<LoginAnswer>('POST', '/v1/users/login', { body: { email, password } });
  session.set({ token: answer.token, userId: answer.userId, role: answer.role, email });
  // The cart follows the shopper: a failed merge leaves the guest cart in place for the next login.
  await mergeGuestCart().catch(() => undefined);
}

function useForm() {
  const [errors, setErrors] = useState<FieldErrors>({});
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = (work: () => Promise<void>) => async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setErrors({});
    setProblem(null);
    try {
      await work();
    } catch (error) {
      setErrors(fieldErrorsOf(error));
      setProblem(messageOf(error));
    } finally {
      setBusy(false);
    }
  };
  return { errors, problem, busy, submit };
}

export function LoginPage() {
  useTitle('Log in');
  const { query } = useStore(location);
  const next = safeNext(query);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const form = useForm();
  return (
    <section class="narrow" aria-labelledby="login-title">
      <h1 id="login-title">Log in</h1>
      <form onSubmit={form.submit(async () => { await logIn(email.trim(), password); navigate(next, { replace: true }); })} noValidate>
        <Field id="login-email" label="Email" type="email" value={email} onValue={setEmail} error={form.errors.email} autoComplete="username" required />
        <Field id="login-password" label="Password" type="password" value={password} onValue={setPassword} error={form.errors.password} autoComplete="current-password" required />
        {form.problem && <Alert>{form.problem}</Alert>}
        <button type="submit" class="primary" disabled={form.busy}>Log in</button>
      </form>
      <p>New here? <a href={`/register?next=${encodeURIComponent(next)}`}>Create an account</a></p>
    </section>
  );
}

export function RegisterPage() {
  useTitle('Register');
  const { query } = useStore(location);
  const next = safeNext(query);
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [seller, setSeller] = useState(false);
  const form = useForm();
  const register = async () => {
    await api('POST', '/v1/users/register', { body: { name: name.trim(), email: email.trim(), password, role: seller ? 'seller' : 'customer' } });
    await logIn(email.trim(), password);
    navigate(seller && next === '/' ? '/seller' : next, { replace: true });
  };
  return (
    <section class="narrow" aria-labelledby="register-title">
      <h1 id="register-title">Create an account</h1>
      <form onSubmit={form.submit(register)} noValidate>
        <Field id="register-name" label="Name" value={name} onValue={setName} error={form.errors.name} autoComplete="name" required maxLength={100} />
        <Field id="register-email" label="Email" type="email" value={email} onValue={setEmail} error={form.errors.email} autoComplete="email" required />
        <Field id="register-password" label="Password" type="password" value={password} onValue={setPassword} error={form.errors.password}
          autoComplete="new-password" required hint="At least 8 characters" />
        <label class="choice">
          <input type="checkbox" checked={seller} onChange={(e) => setSeller((e.currentTarget as HTMLInputElement).checked)} />
          I want to sell on this shop
        </label>
        {form.problem && <Alert>{form.problem}</Alert>}
        <button type="submit" class="primary" disabled={form.busy}>Register</button>
      </form>
      <p>Have an account? <a href={`/login?next=${encodeURIComponent(next)}`}>Log in</a></p>
    </section>
  );
}
