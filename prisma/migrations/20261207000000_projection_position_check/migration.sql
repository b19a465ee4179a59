-- A projector checks, inside the transaction of its batch, that its position is where it left it
-- (services/shared/projector.ts). Another instance having moved it is this SQLSTATE, PP001, not a message to parse.
CREATE FUNCTION projection_position_expected(expected bigint, actual bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF actual IS DISTINCT FROM expected THEN
    RAISE EXCEPTION 'projection position moved to %, expected %', actual, expected USING ERRCODE = 'PP001';
  END IF;
END
$$;
