import { useState, type FormEvent } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { register } from '../auth';
import { Field, FormError } from '../components/ui';
import { fieldError, formError } from '../api/problem';
import { safeNext } from './Login';

export default function Register() {
  const [params] = useSearchParams();
  const next = safeNext(params.get('next'));
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [form, setForm] = useState({ display_name: '', email: '', password: '' });
  const set = (k: keyof typeof form) => (e: React.ChangeEvent<HTMLInputElement>) => setForm({ ...form, [k]: e.target.value });
  const m = useMutation({
    mutationFn: () =>
      register(qc, { email: form.email, password: form.password, display_name: form.display_name || undefined }),
    onSuccess: () => navigate(next, { replace: true }),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    m.mutate();
  };
  const shown = ['email', 'password', 'display_name'];
  return (
    <div className="page narrow">
      <h1>Create an account</h1>
      <form onSubmit={submit} noValidate>
        <FormError message={m.isError ? formError(m.error, shown) : undefined} />
        <Field label="Name" autoComplete="name" value={form.display_name} onChange={set('display_name')} error={fieldError(m.error, 'display_name')} />
        <Field label="E-mail" type="email" autoComplete="email" required value={form.email} onChange={set('email')} error={fieldError(m.error, 'email')} />
        <Field
          label="Password"
          type="password"
          autoComplete="new-password"
          required
          value={form.password}
          onChange={set('password')}
          error={fieldError(m.error, 'password')}
          hint="8 to 128 characters; a few words make a strong one."
        />
        <button type="submit" className="primary" disabled={m.isPending}>
          {m.isPending ? 'Creating…' : 'Sign up'}
        </button>
      </form>
      <p>
        Have an account? <Link to={`/login?next=${encodeURIComponent(next)}`}>Log in</Link>
      </p>
    </div>
  );
}
