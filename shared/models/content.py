"""Per-shop template settings: template overrides, approved WhatsApp templates, links the copy points to.

Lives under ``templates:`` in a shop's configuration document. Shapes are strict (a typo in a key is an error, an
unknown channel is an error, a part a channel does not have is an error) so a mistake surfaces when the config is
loaded; whether the jinja2 inside renders is checked by ``shared.content.validate_templates``.

This module imports nothing from ``shared.models.config`` (which imports it), so the channel names appear here as
field names of :class:`ChannelTemplates`.
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# Message kinds are the journey steps' ``template`` names; locales are BCP 47 tags as in ``shop.default_locale``.
KindName = Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
LocaleTag = Annotated[str, Field(pattern=r"^[a-zA-Z]{2,3}([-_][A-Za-z0-9]{2,8})*$")]
# Meta names a template's language "en", "en_US", "pt_BR", ...
MetaLanguage = Annotated[str, Field(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")]
HttpsUrl = Annotated[str, Field(pattern=r"^https://\S+$", max_length=2000)]
TemplateSource = Annotated[str, Field(min_length=1, max_length=100_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class TitledParts(_Strict):
    """Push and in-app: a title and a body."""

    title: TemplateSource | None = None
    text: TemplateSource | None = None


class EmailParts(TitledParts):
    """Email: the subject (``title``), the plain-text part and the HTML part (rendered with autoescape)."""

    html: TemplateSource | None = None


class TextParts(_Strict):
    """SMS and WhatsApp free-form text: a body only (the channels have no title)."""

    text: TemplateSource | None = None


class ChannelTemplates(_Strict):
    """Override templates of one message kind in one locale, per channel; a part left out keeps the shipped one."""

    push: TitledParts | None = None
    email: EmailParts | None = None
    sms: TextParts | None = None
    whatsapp: TextParts | None = None
    in_app: TitledParts | None = None


class WhatsAppTemplateSettings(_Strict):
    """A Meta-approved WhatsApp template sent for a message kind outside the 24 h customer-service window.

    ``parameters`` are jinja2 expressions (``"{{ customer.first_name or 'there' }}"``) rendered in the same sandbox
    and context as the other templates, in order, as the body's {{1}}, {{2}}, ...
    """

    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$", description="the template's name as approved by Meta")
    language: MetaLanguage = Field(description="the approved translation used when no entry of languages fits")
    languages: dict[LocaleTag, MetaLanguage] = Field(
        default_factory=dict, description="customer locale -> approved translation, e.g. {de: de, en-US: en_US}"
    )
    parameters: list[TemplateSource] = Field(default_factory=list, max_length=100)


class ShopLinks(_Strict):
    """Pages of the storefront the copy links to; a journey step's variables (``cart_url``, ...) win over these."""

    cart: HttpsUrl | None = None
    loyalty: HttpsUrl | None = None
    referral: HttpsUrl | None = None
    review: HttpsUrl | None = None


class TemplateSettings(_Strict):
    """``templates:`` in a shop config: overrides win over the shipped templates, locale by locale."""

    overrides: dict[KindName, dict[LocaleTag, ChannelTemplates]] = Field(
        default_factory=dict, description="kind -> locale -> channel -> {title, text, html}"
    )
    whatsapp: dict[KindName, WhatsAppTemplateSettings] = Field(
        default_factory=dict, description="kind -> approved Meta template"
    )
    links: ShopLinks = Field(default_factory=ShopLinks)
