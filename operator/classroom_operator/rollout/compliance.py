"""The model's compliance conditions (pure): WebhookSigned and EmotionPolicy.

WebhookSigned says whether the pods sign their deliveries (docs/contracts.md, "Signed
deliveries"). The pods do not report it, so it comes from the sink's Secret as the rollout pass
read it by name: the key `signingKey` (default `signing-key`) present and long enough. The pods
read the key when they start, so a key added later signs once the pods restart.

EmotionPolicy says how the platform team's policy (chart value compliance.emotion, the
operator's CLASSROOM_EMOTION_POLICY) meets the model: a model mapping spec.model.outputs.emotion
under a `disabled` policy (admitted before the policy's admission check existed, or with that
check bypassed) is served with `--emotion disabled`, so its pods drop the head right after
inference; the condition is then False with reason EmotionDropped, because the model is not
served as its spec says and someone should act.
"""

from __future__ import annotations

from collections.abc import Mapping

from classroom_operator.conditions import Condition
from classroom_operator.rollout.credentials import secret_text
from classroom_operator.settings import Settings
from classroom_operator.spec.model import ModelSpec
from classroom_operator.spec.pod_settings import Sink

# The pod refuses a shorter key (CLASSROOM_SINK_SIGNING_KEY, docs/contracts.md).
MIN_SIGNING_KEY_CHARS = 16
POLICY_NOTE = ("EU AI Act Art. 5(1)(f) prohibits inferring emotions in education institutions "
               "except for medical or safety reasons")

# The sink Secret as a pass read it: its `data`, None when it does not exist, or why it could
# not be read.
SecretLookup = Mapping[str, str] | str | None


def signing_condition(sink: Sink, found: SecretLookup) -> Condition:
    """WebhookSigned for the model's sink and what its Secret holds."""
    if sink.url is None:
        return Condition("WebhookSigned", "Unknown", "NoWebhook",
                         "spec.sink.webhook is not set: nothing is delivered")
    signing = sink.signing
    if signing is None:
        return Condition("WebhookSigned", "False", "NoSigningKey",
                         "deliveries are unsigned: spec.sink.webhook.secretRef is not set; name "
                         "a Secret with a bearer token and a signing-key of at least "
                         f"{MIN_SIGNING_KEY_CHARS} random characters")
    if isinstance(found, str):
        return Condition("WebhookSigned", "Unknown", "SinkSecretUnreadable",
                         f"Secret {signing.name} could not be read: {found}")
    if found is None:
        return Condition("WebhookSigned", "False", "SinkSecretMissing",
                         f"Secret {signing.name} (spec.sink.webhook.secretRef) does not exist: "
                         "the pods cannot start without its token; create it with the token and "
                         f"a {signing.key} key")
    if signing.key not in found:
        return Condition("WebhookSigned", "False", "Unsigned",
                         f"deliveries are unsigned: Secret {signing.name} has no key "
                         f"{signing.key}; add one of at least {MIN_SIGNING_KEY_CHARS} random "
                         "characters, then restart the pods (kubectl rollout restart "
                         "statefulset -l app.kubernetes.io/component=inference), which read it "
                         "when they start")
    key = secret_text(found, signing.key)
    if key is None or len(key) < MIN_SIGNING_KEY_CHARS:
        return Condition("WebhookSigned", "False", "SigningKeyTooShort",
                         f"Secret {signing.name} key {signing.key} is empty, not UTF-8 text or "
                         f"under {MIN_SIGNING_KEY_CHARS} characters: the pods refuse to start "
                         "with it; replace it with a longer random key")
    return Condition("WebhookSigned", "True", "Signed",
                     f"pods sign every delivery with the key {signing.key} of Secret "
                     f"{signing.name} (header Classroom-Signature); a pod started before the "
                     "key was added signs once it restarts")


def emotion_condition(spec: ModelSpec, settings: Settings) -> Condition:
    """EmotionPolicy for the model's heads under the platform team's policy."""
    outputs = spec.model.outputs
    if outputs.emotion is None:
        return Condition("EmotionPolicy", "True", "NoEmotionHead",
                         f"the model maps no emotion head (policy: {settings.emotion_policy})")
    if settings.emotion_allowed:
        return Condition("EmotionPolicy", "True", "EmotionServed",
                         "the emotion head is served: the platform team's policy "
                         "(compliance.emotion) is enabled")
    fix = ("remove spec.model.outputs.emotion, or ask the platform team to set "
           "compliance.emotion=enabled where that is lawful")
    if outputs.attention is None and outputs.engagement is None:
        return Condition("EmotionPolicy", "False", "EmotionOnlyModel",
                         "the model's only head is emotion, which the platform team's policy "
                         f"(compliance.emotion=disabled; {POLICY_NOTE}) forbids: its pods "
                         f"refuse to start with --emotion disabled; map another head, or {fix}")
    return Condition("EmotionPolicy", "False", "EmotionDropped",
                     "spec.model.outputs.emotion is mapped, but the platform team's policy "
                     f"(compliance.emotion=disabled; {POLICY_NOTE}) forbids it: the pods run "
                     "with --emotion disabled and drop the emotion head right after inference "
                     f"(the engine keeps it); {fix}")
