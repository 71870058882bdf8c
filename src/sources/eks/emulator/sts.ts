// Enough of AWS STS (the awsQuery protocol: form-encoded POST, XML answer) for the SDK's credential
// providers to assume a role against the emulator: AssumeRole (roleArn on top of the chain) and
// AssumeRoleWithWebIdentity (IRSA: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE).

export interface StsCall {
  action: string;
  roleArn?: string;
  sessionName?: string;
  externalId?: string;
  /** The web identity token presented (IRSA), as sent. */
  webIdentityToken?: string;
  /** The temporary access key id the emulator issued. */
  issuedAccessKeyId?: string;
}

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

/** Answers one STS request; `seq` makes every issued key distinct. */
export function answerSts(form: URLSearchParams, seq: number, nowMs: number, requestId: string): { status: number; body: string; call: StsCall } {
  const action = form.get('Action') ?? '';
  const call: StsCall = { action };
  const roleArn = form.get('RoleArn') ?? undefined;
  if (roleArn) call.roleArn = roleArn;
  const sessionName = form.get('RoleSessionName') ?? undefined;
  if (sessionName) call.sessionName = sessionName;
  const externalId = form.get('ExternalId') ?? undefined;
  if (externalId) call.externalId = externalId;
  const token = form.get('WebIdentityToken') ?? undefined;
  if (token) call.webIdentityToken = token;

  if (action === 'AssumeRole' || action === 'AssumeRoleWithWebIdentity') {
    if (!roleArn || !sessionName) {
      return { status: 400, body: stsError('ValidationError', 'RoleArn and RoleSessionName are required', requestId), call };
    }
    if (action === 'AssumeRoleWithWebIdentity' && !token) {
      return { status: 400, body: stsError('ValidationError', 'WebIdentityToken is required', requestId), call };
    }
    const accessKeyId = `ASIAEMULATOR${String(seq).padStart(8, '0')}`;
    call.issuedAccessKeyId = accessKeyId;
    const account = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(.+)$/.exec(roleArn);
    const assumedArn = account ? `arn:aws:sts::${account[1]}:assumed-role/${account[2]}/${sessionName}` : `${roleArn}/${sessionName}`;
    const result = `${action}Result`;
    const body =
      `<${action}Response xmlns="${NS}"><${result}>` +
      `<Credentials><AccessKeyId>${accessKeyId}</AccessKeyId><SecretAccessKey>emulator-secret-${seq}</SecretAccessKey>` +
      `<SessionToken>emulator-session-${seq}</SessionToken><Expiration>${new Date(nowMs + 3600_000).toISOString()}</Expiration></Credentials>` +
      `<AssumedRoleUser><Arn>${escapeXml(assumedArn)}</Arn><AssumedRoleId>AROAEMULATOR:${escapeXml(sessionName)}</AssumedRoleId></AssumedRoleUser>` +
      `</${result}><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`;
    return { status: 200, body, call };
  }
  return { status: 400, body: stsError('InvalidAction', `the emulator does not implement ${action || 'this action'}`, requestId), call };
}

function stsError(code: string, message: string, requestId: string): string {
  return (
    `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>` +
    `<RequestId>${requestId}</RequestId></ErrorResponse>`
  );
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
