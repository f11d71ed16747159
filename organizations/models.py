from django.db import models


class Organization(models.Model):
    """The tenant. Every tenant-owned row points here.

    It is dj-stripe's subscriber model, which is why it carries a billing ``email``.
    """

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    email = models.EmailField(help_text="Billing email, sent to Stripe as the customer's.")
    created_at = models.DateTimeField()

    def __str__(self):
        return self.name
