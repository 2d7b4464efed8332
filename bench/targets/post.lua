-- wrk: POST a job-sized signed body, as a delivery would.
wrk.method = "POST"
wrk.body = '{"image":"https://img.example/a.png","width":200}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["webhook-id"] = "job_1"
wrk.headers["webhook-timestamp"] = "1700000000"
wrk.headers["webhook-signature"] = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
