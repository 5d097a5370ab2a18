"""Users as data subjects: erasing a user (right to be forgotten) from every store of the tenant."""
