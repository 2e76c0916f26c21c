DROP INDEX orders_user_id;
