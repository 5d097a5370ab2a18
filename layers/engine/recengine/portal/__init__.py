"""Portal accounts (Cognito) with their tokens, and the tenant's end users as the portal manages them."""
